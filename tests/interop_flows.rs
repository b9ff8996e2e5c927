//! Interop of flows with the real Node BullMQ 6.7, both ways: Node's FlowProducer trees run by
//! our workers (a parent reading its children's values), ours run by Node workers, and Node's
//! getFlow reading our trees as it reads its own.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::{processor, FlowJob, FlowProducer, JobOptions, JobOutcome, JobState, Worker};
use common::node::node;
use common::*;
use serde_json::{json, Value};

fn tree_spec(top: &str, low: &str) -> FlowJob {
    FlowJob::new("parent", top).data(json!({"root": 1})).opts(JobOptions::default().attempts(2)).children(vec![
        FlowJob::new("child", low).data(json!({"n": 1})),
        FlowJob::new("parent", low).data(json!({"mid": 1})).children(vec![
            FlowJob::new("child", top).data(json!({"n": 2})),
            FlowJob::new("child", top).data(json!({"n": 3})).opts(JobOptions::default().priority(2)),
        ]),
    ])
}

fn node_spec(top: &str, low: &str) -> Value {
    json!({"name": "parent", "queueName": top, "data": {"root": 1}, "opts": {"attempts": 2}, "children": [
        {"name": "child", "queueName": low, "data": {"n": 1}},
        {"name": "parent", "queueName": low, "data": {"mid": 1}, "children": [
            {"name": "child", "queueName": top, "data": {"n": 2}},
            {"name": "child", "queueName": top, "data": {"n": 3}, "opts": {"priority": 2}},
        ]},
    ]})
}

async fn our_flow_worker(q: &bullmq::Queue) -> Worker {
    let p = processor(|job, ctx| async move {
        if job.name == "parent" {
            let values = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
            return Ok(JobOutcome::Completed(json!(values)));
        }
        Ok(JobOutcome::Completed(json!({"n": job.data["n"]})))
    });
    Worker::spawn(q.name(), p, worker_opts(q).concurrency(4).drain_delay(Duration::from_millis(200))).await.unwrap().0
}

/// Node adds a 3-level flow across two queues; our workers run children before parents and each
/// parent gets its children's values.
#[tokio::test]
async fn our_workers_run_node_flows() {
    let top = queue("iflow-top").await;
    let low = queue("iflow-low").await;
    let r = node("bullmq", top.name(), json!({"cmd": "flowAdd", "flow": node_spec(top.name(), low.name())})).await;
    let root = r["tree"]["id"].as_str().unwrap().to_owned();
    let mid = r["tree"]["children"][1]["id"].as_str().unwrap().to_owned();
    let (w1, w2) = (our_flow_worker(&top).await, our_flow_worker(&low).await);
    eventually("the root completed", Duration::from_secs(10), || async {
        top.get_job_state(&root).await.unwrap() == JobState::Completed
    })
    .await;
    w1.close(Duration::from_secs(2)).await;
    w2.close(Duration::from_secs(2)).await;
    let mid_job = low.get_job(&mid).await.unwrap().unwrap();
    let values = mid_job.returnvalue.unwrap();
    let mut ns: Vec<i64> = values.as_object().unwrap().values().map(|v| v["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, vec![2, 3], "the middle parent read its children's values");
    let root_job = top.get_job(&root).await.unwrap().unwrap();
    assert_eq!(root_job.returnvalue.unwrap().as_object().unwrap().len(), 2);
    println!("interop flows node->rust: 5 jobs across 2 queues, parents read children values");
}

/// We add the same flow; Node workers run it and Node's getChildrenValues reads what our
/// children stored; Node's getFlow reads our tree as it reads its own.
#[tokio::test]
async fn node_runs_and_reads_our_flows() {
    let top = queue("iflow-ours-top").await;
    let low = queue("iflow-ours-low").await;
    let fp = FlowProducer::new(conn()).await.unwrap();
    let tree = fp.add(tree_spec(top.name(), low.name())).await.unwrap();

    // getFlow, before processing: ours and Node's own trees read the same.
    let ntop = queue("iflow-node-top").await;
    let nlow = queue("iflow-node-low").await;
    let theirs =
        node("bullmq", ntop.name(), json!({"cmd": "flowAdd", "flow": node_spec(ntop.name(), nlow.name())})).await;
    let a = node("bullmq", top.name(), json!({"cmd": "getFlow", "id": tree.job.id})).await["flow"].clone();
    let b = node("bullmq", ntop.name(), json!({"cmd": "getFlow", "id": theirs["tree"]["id"]})).await["flow"].clone();
    let normalise = |v: Value, t: &str, l: &str| {
        serde_json::from_str::<Value>(&v.to_string().replace(t, "TOP").replace(l, "LOW")).unwrap()
    };
    assert_eq!(normalise(a, top.name(), low.name()), normalise(b, ntop.name(), nlow.name()));

    let (r1, r2) = tokio::join!(
        node("bullmq", top.name(), json!({"cmd": "workFlow", "ms": 3000})),
        node("bullmq", low.name(), json!({"cmd": "workFlow", "ms": 3000})),
    );
    assert_eq!(r1["runs"].as_array().unwrap().len() + r2["runs"].as_array().unwrap().len(), 5);
    let root = top.get_job(&tree.job.id).await.unwrap().unwrap();
    assert_eq!(top.get_job_state(&tree.job.id).await.unwrap(), JobState::Completed);
    let values = root.returnvalue.unwrap();
    let child_key = format!("bull:{}:{}", low.name(), tree.children[0].job.id);
    assert_eq!(values[&child_key], json!({"n": 1}), "Node read our child's value: {values}");
    println!("interop flows rust->node: node getFlow equal, 5 jobs run by node, children values read");
}

/// Our tree and a Node worker on the same queue run 50 flows of a parent and 5 children: every
/// job runs once, every parent completes after its children with all their values.
#[tokio::test]
async fn a_mixed_fleet_runs_flows() {
    let q = queue("iflow-fleet").await;
    let fp = FlowProducer::new(conn()).await.unwrap();
    let flows: Vec<FlowJob> = (0..50)
        .map(|i| {
            FlowJob::new("parent", q.name())
                .data(json!({"i": i}))
                .children((0..5).map(|c| FlowJob::new("child", q.name()).data(json!({"n": c}))).collect())
        })
        .collect();
    let trees = fp.add_bulk(flows).await.unwrap();
    let (p, runs) = recording_processor();
    let ours = processor(move |job, ctx| {
        let p = p.clone();
        async move {
            if job.name == "parent" {
                let values = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
                p(job, ctx).await?;
                return Ok(JobOutcome::Completed(json!(values)));
            }
            p(job, ctx).await.map(|_| JobOutcome::Completed(json!({"n": 0})))
        }
    });
    // Node's worker starts first (its process takes a moment); ours joins while it runs.
    let ours_run = async {
        eventually("node started", Duration::from_secs(10), || async { q.get_completed_count().await.unwrap() > 0 })
            .await;
        let opts = worker_opts(&q).concurrency(4).drain_delay(Duration::from_millis(200));
        let (w, _rx) = Worker::spawn(q.name(), ours, opts).await.unwrap();
        eventually("all parents completed", Duration::from_secs(15), || async {
            q.get_completed_count().await.unwrap() == 300
        })
        .await;
        w.close(Duration::from_secs(2)).await;
    };
    let (node_runs, ()) =
        tokio::join!(node("bullmq", q.name(), json!({"cmd": "workFlow", "ms": 5000, "concurrency": 4})), ours_run);
    let theirs: Vec<String> =
        node_runs["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let ours = runs.lock().unwrap().clone();
    let mut all: Vec<&String> = ours.iter().chain(theirs.iter()).collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!((all.len(), total), (300, 300), "every job ran exactly once");
    for t in &trees {
        let values = q.get_children_values(&t.job.id).await.unwrap();
        assert_eq!(values.len(), 5);
        let parent = q.get_job(&t.job.id).await.unwrap().unwrap();
        assert_eq!(parent.returnvalue.unwrap().as_object().unwrap().len(), 5, "the parent saw all 5 values");
    }
    assert!(!ours.is_empty() && !theirs.is_empty(), "both took part: ours={} node={}", ours.len(), theirs.len());
    println!("interop flows mixed fleet: flows=50 jobs=300 rust={} node={} doubled=0", ours.len(), theirs.len());
}

/// What a flow's parent and children look like in Redis, ids and queue names left out.
async fn policy_outcome(q: &bullmq::Queue, parent: &str, children: &[String]) -> Value {
    let key = |s: &str| k(q, &format!("{parent}{s}"));
    let strip = |s: String| s.replace(&format!("bull:{}:", q.name()), "Q:");
    let failed: std::collections::BTreeMap<String, String> =
        cmd::<HashMap<String, String>>(&["HGETALL", &key(":failed")])
            .await
            .into_iter()
            .map(|(k, v)| (strip(k), v))
            .collect();
    let mut unsuccessful: Vec<String> =
        cmd::<Vec<String>>(&["ZRANGE", &key(":unsuccessful"), "0", "-1"]).await.into_iter().map(strip).collect();
    unsuccessful.sort();
    let mut processed: Vec<String> =
        cmd::<Vec<String>>(&["HKEYS", &key(":processed")]).await.into_iter().map(strip).collect();
    processed.sort();
    let mut pending: Vec<String> =
        cmd::<Vec<String>>(&["SMEMBERS", &key(":dependencies")]).await.into_iter().map(strip).collect();
    pending.sort();
    let job = q.get_job(parent).await.unwrap().unwrap();
    let mut child_states = Vec::new();
    for c in children {
        child_states.push(format!("{:?}", q.get_job_state(c).await.unwrap()));
    }
    json!({
        "parent_state": format!("{:?}", q.get_job_state(parent).await.unwrap()),
        "parent_failed_reason": job.failed_reason.map(|r| strip(r).replace(parent, "P")),
        "failed": failed, "unsuccessful": unsuccessful, "processed": processed, "pending": pending,
        "children": child_states,
    })
}

/// Each failure policy (and none), on a Node-made flow whose first child fails: our worker
/// leaves Redis as a Node worker leaves it.
#[tokio::test]
async fn failure_policies_end_as_with_node_workers() {
    for policy in [
        "failParentOnFailure",
        "continueParentOnFailure",
        "ignoreDependencyOnFailure",
        "removeDependencyOnFailure",
        "none",
    ] {
        let mut outcomes = Vec::new();
        // Node's flow on a Node worker (the reference), Node's flow on ours, ours on Node's.
        for (our_flow, ours) in [(false, false), (false, true), (true, false)] {
            let q = queue("iflow-policy").await;
            let mut fail_opts = json!({"jobId": "c-fail"});
            if policy != "none" {
                fail_opts[policy] = true.into();
            }
            if our_flow {
                let mut fail = JobOptions::default().job_id("c-fail");
                fail.parent_failure = match policy {
                    "failParentOnFailure" => Some(bullmq::ParentFailurePolicy::FailParent),
                    "continueParentOnFailure" => Some(bullmq::ParentFailurePolicy::ContinueParent),
                    "ignoreDependencyOnFailure" => Some(bullmq::ParentFailurePolicy::IgnoreDependency),
                    "removeDependencyOnFailure" => Some(bullmq::ParentFailurePolicy::RemoveDependency),
                    _ => None,
                };
                let flow = FlowJob::new("parent", q.name()).opts(JobOptions::default().job_id("cp-p")).children(vec![
                    FlowJob::new("fail", q.name()).opts(fail),
                    FlowJob::new("ok", q.name()).opts(JobOptions::default().job_id("c-ok")),
                ]);
                FlowProducer::new(conn()).await.unwrap().add(flow).await.unwrap();
            } else {
                let spec = json!({"name": "parent", "queueName": q.name(), "opts": {"jobId": "cp-p"}, "children": [
                    {"name": "fail", "queueName": q.name(), "opts": fail_opts},
                    {"name": "ok", "queueName": q.name(), "opts": {"jobId": "c-ok"}},
                ]});
                node("bullmq", q.name(), json!({"cmd": "flowAdd", "flow": spec})).await;
            }
            if ours {
                let p = processor(|job, _ctx| async move {
                    match job.name.as_str() {
                        "fail" => Err(bullmq::JobError::unrecoverable("fail broke")),
                        _ => Ok(JobOutcome::Completed(json!({"n": null}))),
                    }
                });
                let (w, _rx) =
                    Worker::spawn(q.name(), p, worker_opts(&q).concurrency(1).drain_delay(Duration::from_millis(200)))
                        .await
                        .unwrap();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                w.close(Duration::from_secs(2)).await;
            } else {
                node(
                    "bullmq",
                    q.name(),
                    json!({"cmd": "workFlow", "ms": 1500, "concurrency": 1, "failNames": ["fail"]}),
                )
                .await;
            }
            outcomes.push(policy_outcome(&q, "cp-p", &["c-fail".to_owned(), "c-ok".to_owned()]).await);
        }
        assert_eq!(outcomes[1], outcomes[0], "{policy}: our worker (right) against Node's (left)");
        assert_eq!(outcomes[2], outcomes[0], "{policy}: our flow on Node's worker (right) against Node's (left)");
        println!("flow policy {policy}: same as Node: {}", outcomes[0]);
    }
}

/// Node's getDependencies reads our parent as it reads its own, and ours reads Node's.
#[tokio::test]
async fn dependencies_read_the_same_both_ways() {
    let q = queue("iflow-deps").await;
    let fp = FlowProducer::new(conn()).await.unwrap();
    let ours = fp
        .add(FlowJob::new("parent", q.name()).opts(JobOptions::default().job_id("ours")).children(vec![
            FlowJob::new("child", q.name()).opts(JobOptions::default().job_id("o1")),
            FlowJob::new("child", q.name()).opts(JobOptions::default().job_id("o2")),
        ]))
        .await
        .unwrap();
    let spec = json!({"name": "parent", "queueName": q.name(), "opts": {"jobId": "theirs"}, "children": [
        {"name": "child", "queueName": q.name(), "opts": {"jobId": "t1"}},
        {"name": "child", "queueName": q.name(), "opts": {"jobId": "t2"}},
    ]});
    node("bullmq", q.name(), json!({"cmd": "flowAdd", "flow": spec})).await;
    let a = node("bullmq", q.name(), json!({"cmd": "getDependencies", "id": ours.job.id})).await;
    let b = node("bullmq", q.name(), json!({"cmd": "getDependencies", "id": "theirs"})).await;
    let norm = |v: &Value| {
        let mut unprocessed: Vec<String> = v["deps"]["unprocessed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().replace(":o", ":x").replace(":t", ":x"))
            .collect();
        unprocessed.sort();
        json!({"unprocessed": unprocessed, "counts": v["counts"], "processed": v["deps"]["processed"]})
    };
    assert_eq!(norm(&a), norm(&b));
    assert_eq!(a["counts"], json!({"processed": 0, "unprocessed": 2, "ignored": 0, "failed": 0}));
    let theirs = q.get_dependencies("theirs", bullmq::queue::DependenciesQuery::default()).await.unwrap();
    let mut keys = theirs.unprocessed.clone();
    keys.sort();
    assert_eq!(keys, vec![k(&q, "t1"), k(&q, "t2")]);
    let counts = q.get_dependencies_count("theirs").await.unwrap();
    assert_eq!((counts.processed, counts.unprocessed, counts.ignored, counts.failed), (0, 2, 0, 0));
}
