//! Flows through the public API, checked in Redis: FlowProducer trees across queues (parents
//! waiting for children, the links both ways), processing with parents reading their children's
//! values, atomicity and typed errors for bad input anywhere in a tree, custom ids.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::{
    processor, Error, FlowJob, FlowProducer, JobOptions, JobOutcome, JobState, ParentFailurePolicy, ParentOptions,
    Queue, Worker,
};
use common::*;
use serde_json::{json, Value};

async fn producer() -> FlowProducer {
    FlowProducer::new(conn()).await.unwrap()
}

async fn hash(key: &str) -> HashMap<String, String> {
    cmd(&["HGETALL", key]).await
}

/// Every key of the queues, for "nothing was written" checks.
async fn keys_of(queues: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    for q in queues {
        let keys: Vec<String> = cmd(&["KEYS", &format!("bull:{q}:*")]).await;
        all.extend(keys.into_iter().filter(|k| !k.ends_with(":meta")));
    }
    all
}

/// A worker on `q` whose processor returns `{"n": data.n}` for children and, for parents (named
/// "parent"), the values of their children.
async fn flow_worker(q: &Queue) -> Worker {
    let p = processor(|job, ctx| async move {
        if job.name == "parent" {
            let values = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
            let mut sorted: Vec<(String, Value)> = values.into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(JobOutcome::Completed(json!(sorted)));
        }
        Ok(JobOutcome::Completed(json!({"n": job.data["n"]})))
    });
    Worker::spawn(q.name(), p, worker_opts(q).concurrency(4).drain_delay(Duration::from_millis(200))).await.unwrap().0
}

#[tokio::test]
async fn a_three_level_flow_across_two_queues() {
    let top = queue("flow-top").await;
    let low = queue("flow-low").await;
    let flow = FlowJob::new("parent", top.name()).data(json!({"root": true})).children(vec![
        FlowJob::new("child", low.name()).data(json!({"n": 1})),
        FlowJob::new("parent", low.name()).opts(JobOptions::default().job_id("mid")).children(vec![
            FlowJob::new("child", top.name()).data(json!({"n": 2})),
            FlowJob::new("child", top.name()).data(json!({"n": 3})),
        ]),
    ]);
    let tree = producer().await.add(flow).await.unwrap();
    let root = &tree.job;
    assert_eq!(tree.children.len(), 2);
    assert_eq!(tree.children[1].job.id, "mid");
    assert_eq!(tree.children[1].children.len(), 2);
    assert!(uuid_like(&root.id), "a generated id is a UUID: {}", root.id);

    // Wire: parents wait for children; children point at their parents.
    let waiting: Vec<String> = cmd(&["ZRANGE", &k(&top, "waiting-children"), "0", "-1"]).await;
    assert_eq!(waiting, vec![root.id.clone()]);
    let waiting_low: Vec<String> = cmd(&["ZRANGE", &k(&low, "waiting-children"), "0", "-1"]).await;
    assert_eq!(waiting_low, vec!["mid".to_owned()]);
    let mut deps: Vec<String> = cmd(&["SMEMBERS", &k(&top, &format!("{}:dependencies", root.id))]).await;
    deps.sort();
    let mut expected = vec![k(&low, &tree.children[0].job.id), k(&low, "mid")];
    expected.sort();
    assert_eq!(deps, expected);
    let leaf = hash(&k(&top, &tree.children[1].children[0].job.id)).await;
    assert_eq!(leaf["parentKey"], k(&low, "mid"));
    let parent: Value = serde_json::from_str(&leaf["parent"]).unwrap();
    assert_eq!(parent, json!({"id": "mid", "queueKey": format!("bull:{}", low.name())}));
    let opts: Value = serde_json::from_str(&leaf["opts"]).unwrap();
    assert_eq!(opts["parent"], json!({"id": "mid", "queue": format!("bull:{}", low.name())}));
    assert_eq!(top.get_job_state(&root.id).await.unwrap(), JobState::WaitingChildren);
    let ev = events(&top).await;
    assert!(ev.iter().any(|(e, f)| e == "waiting-children" && f["jobId"] == root.id));

    // Processing: leaves, then "mid", then the root; each parent reads its children's values.
    let (w1, w2) = (flow_worker(&top).await, flow_worker(&low).await);
    eventually("the root completed", Duration::from_secs(10), || async {
        top.get_job_state(&root.id).await.unwrap() == JobState::Completed
    })
    .await;
    w1.close(Duration::from_secs(2)).await;
    w2.close(Duration::from_secs(2)).await;
    let mid = low.get_job("mid").await.unwrap().unwrap();
    let mut want_mid: Vec<Value> =
        tree.children[1].children.iter().zip([2, 3]).map(|(c, n)| json!([k(&top, &c.job.id), {"n": n}])).collect();
    want_mid.sort_by_key(|v| v[0].as_str().unwrap().to_owned());
    assert_eq!(mid.returnvalue, Some(Value::Array(want_mid)));
    let root_done = top.get_job(&root.id).await.unwrap().unwrap();
    let values = root_done.returnvalue.unwrap();
    assert_eq!(values.as_array().unwrap().len(), 2);
    let counts = top.get_dependencies_count(&root.id).await.unwrap();
    assert_eq!((counts.processed, counts.unprocessed, counts.ignored, counts.failed), (2, 0, 0, 0));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn bad_input_anywhere_writes_nothing() {
    let a = queue("flow-bad-a").await;
    let b = queue("flow-bad-b").await;
    let names = [a.name(), b.name()];
    let fp = producer().await;
    let deep_bad = FlowJob::new("p", a.name()).child(
        FlowJob::new("p", b.name()).child(FlowJob::new("c", a.name()).opts(JobOptions::default().priority(3_000_000))),
    );
    match fp.add(deep_bad).await {
        Err(Error::InvalidOption { option: "priority", message }) => {
            assert!(message.contains("root[0].children[0].children[0]"), "{message}")
        }
        other => panic!("expected a priority error naming the node, got {other:?}"),
    }
    let other_prefix = FlowJob::new("p", a.name()).child(FlowJob::new("c", b.name()).prefix("elsewhere"));
    assert!(matches!(fp.add(other_prefix).await, Err(Error::InvalidOption { option: "prefix", .. })));
    let twice = FlowJob::new("p", a.name())
        .opts(JobOptions::default().job_id("x"))
        .child(FlowJob::new("c", a.name()).opts(JobOptions::default().job_id("x")));
    assert!(matches!(fp.add(twice).await, Err(Error::InvalidOption { option: "job_id", .. })));
    // Deduplication: refused on a child (with a parent) and on a node with children, as Node's
    // FlowProducer refuses them.
    let dedup = || JobOptions::default().deduplication(bullmq::Deduplication::simple("d1"));
    let dedup_child = FlowJob::new("p", a.name()).child(FlowJob::new("c", b.name()).opts(dedup()));
    assert!(matches!(fp.add(dedup_child).await, Err(Error::InvalidOption { option: "deduplication", .. })));
    let dedup_parent = FlowJob::new("p", a.name()).opts(dedup()).child(FlowJob::new("c", b.name()));
    assert!(matches!(fp.add(dedup_parent).await, Err(Error::InvalidOption { option: "deduplication", .. })));
    // A root attached to a parent that does not exist: refused by the script, before any write.
    let orphan = FlowJob::new("p", a.name())
        .opts(JobOptions::default().parent(ParentOptions::new("nope", format!("bull:{}", b.name()))))
        .child(FlowJob::new("c", b.name()));
    let e = fp.add(orphan).await.unwrap_err();
    assert!(matches!(&e, Error::Script(s) if s.code == bullmq::ScriptErrorCode::ParentJobNotExist), "{e}");
    // One bad flow in a bulk: none of them.
    let good = FlowJob::new("p", a.name()).child(FlowJob::new("c", b.name()));
    let bad =
        FlowJob::new("p", a.name()).child(FlowJob::new("c", b.name()).opts(JobOptions::default().priority(3_000_000)));
    assert!(fp.add_bulk(vec![good, bad]).await.is_err());
    assert!(keys_of(&names).await.is_empty(), "nothing written: {:?}", keys_of(&names).await);
}

#[tokio::test]
async fn a_flow_of_a_thousand_children_and_a_bulk() {
    let q = queue("flow-big").await;
    let children: Vec<FlowJob> = (0..1000).map(|n| FlowJob::new("child", q.name()).data(json!({"n": n}))).collect();
    let fp = producer().await;
    let tree = fp.add(FlowJob::new("parent", q.name()).children(children)).await.unwrap();
    assert_eq!(tree.children.len(), 1000);
    let deps: u64 = cmd(&["SCARD", &k(&q, &format!("{}:dependencies", tree.job.id))]).await;
    assert_eq!(deps, 1000);
    let flows: Vec<FlowJob> = (0..20)
        .map(|i| FlowJob::new("parent", q.name()).child(FlowJob::new("child", q.name()).data(json!({"n": i}))))
        .collect();
    let roots = fp.add_bulk(flows).await.unwrap();
    assert_eq!(roots.len(), 20);
    let w = flow_worker(&q).await;
    eventually("all 21 parents completed", Duration::from_secs(30), || async {
        q.get_completed_count().await.unwrap() == 1000 + 20 + 21
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let parent = q.get_job(&tree.job.id).await.unwrap().unwrap();
    assert_eq!(parent.returnvalue.unwrap().as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn a_child_that_exists_completed_releases_its_parent_at_once() {
    let q = queue("flow-dup").await;
    q.add("child", json!({"n": 7}), JobOptions::default().job_id("done-child")).await.unwrap();
    let w = flow_worker(&q).await;
    eventually("the child completed", Duration::from_secs(5), || async {
        q.get_job_state("done-child").await.unwrap() == JobState::Completed
    })
    .await;
    let tree = producer()
        .await
        .add(
            FlowJob::new("parent", q.name())
                .child(FlowJob::new("child", q.name()).opts(JobOptions::default().job_id("done-child"))),
        )
        .await
        .unwrap();
    eventually("the parent completed", Duration::from_secs(5), || async {
        q.get_job_state(&tree.job.id).await.unwrap() == JobState::Completed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let values = q.get_children_values(&tree.job.id).await.unwrap();
    assert_eq!(values.get(&k(&q, "done-child")), Some(&json!({"n": 7})));
}

#[tokio::test]
async fn failure_policies_on_flow_children() {
    let q = queue("flow-policy").await;
    let failing =
        |policy: ParentFailurePolicy| FlowJob::new("fail", q.name()).opts(JobOptions::default().parent_failure(policy));
    let fp = producer().await;
    let ignore = fp
        .add(FlowJob::new("parent", q.name()).children(vec![
            failing(ParentFailurePolicy::IgnoreDependency),
            FlowJob::new("child", q.name()).data(json!({"n": 1})),
        ]))
        .await
        .unwrap();
    let fail = fp.add(FlowJob::new("parent", q.name()).child(failing(ParentFailurePolicy::FailParent))).await.unwrap();
    let p = processor(|job, ctx| async move {
        match job.name.as_str() {
            "fail" => Err(bullmq::JobError::new("child broke")),
            "parent" => {
                let v = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
                Ok(JobOutcome::Completed(json!(v.len())))
            }
            _ => Ok(JobOutcome::Completed(json!(1))),
        }
    });
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("both parents finished", Duration::from_secs(10), || async {
        q.get_job_state(&ignore.job.id).await.unwrap() == JobState::Completed
            && q.get_job_state(&fail.job.id).await.unwrap() == JobState::Failed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let ignored = q.get_ignored_children_failures(&ignore.job.id).await.unwrap();
    assert_eq!(ignored.get(&k(&q, &ignore.children[0].job.id)).map(String::as_str), Some("child broke"));
    let counts = q.get_dependencies_count(&ignore.job.id).await.unwrap();
    assert_eq!((counts.processed, counts.ignored), (1, 1));
    let failed = q.get_job(&fail.job.id).await.unwrap().unwrap();
    assert!(failed.failed_reason.unwrap_or_default().contains("child"), "the parent failed because of its child");
}

/// `continueParentOnFailure` releases the parent while another child still runs; completing the
/// parent then is refused (pending dependencies) and, as in Node, fails it with that reason,
/// instead of leaving it active under a lock nobody renews.
#[tokio::test]
async fn a_parent_released_early_by_continue_parent_fails_with_pending_dependencies() {
    let q = queue("flow-cpof").await;
    let tree = producer()
        .await
        .add(FlowJob::new("parent", q.name()).opts(JobOptions::default().job_id("cp-p")).children(vec![
                FlowJob::new("fail", q.name())
                    .opts(JobOptions::default().parent_failure(ParentFailurePolicy::ContinueParent)),
                FlowJob::new("slow", q.name()),
            ]))
        .await
        .unwrap();
    let p = processor(|job, _ctx| async move {
        match job.name.as_str() {
            "fail" => Err(bullmq::JobError::new("child broke")),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok(JobOutcome::Completed(json!("slow done")))
            }
            _ => Ok(JobOutcome::Completed(json!("parent done"))),
        }
    });
    let (w, mut rx) =
        Worker::spawn(q.name(), p, worker_opts(&q).concurrency(3).drain_delay(Duration::from_millis(200)))
            .await
            .unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, bullmq::WorkerEvent::JobFailed { id, .. } if id == "cp-p")).await;
    w.close(Duration::from_secs(3)).await;
    let bullmq::WorkerEvent::JobFailed { reason, .. } = e else { unreachable!() };
    assert_eq!(reason, "Job cp-p has pending dependencies. moveToFinished");
    assert_eq!(q.get_job_state(&tree.job.id).await.unwrap(), JobState::Failed);
    let job = q.get_job("cp-p").await.unwrap().unwrap();
    assert_eq!(job.failed_reason.as_deref(), Some("Job cp-p has pending dependencies. moveToFinished"));
    assert!(!cmd::<bool>(&["EXISTS", &k(&q, "cp-p:lock")]).await, "no lock left behind");
}

/// get_flow reads a tree with each node's state; a parent stuck behind a child that failed with
/// no failure policy is visible there and in get_blocked_parents.
#[tokio::test]
async fn get_flow_and_blocked_parents() {
    let top = queue("flow-read-top").await;
    let low = queue("flow-read-low").await;
    let fp = producer().await;
    let tree = fp
        .add(
            FlowJob::new("parent", top.name()).children(vec![
                FlowJob::new("child", low.name()).data(json!({"n": 1})),
                FlowJob::new("fail", low.name()),
            ]),
        )
        .await
        .unwrap();
    let read = fp.get_flow(top.name(), &tree.job.id, 10, 20).await.unwrap().unwrap();
    assert_eq!(read.state, JobState::WaitingChildren);
    assert_eq!(read.children.len(), 2);
    assert!(read.children.iter().all(|c| c.state == JobState::Waiting));
    assert!(read.blocked_by.is_empty());
    assert_eq!(fp.get_flow(top.name(), &tree.job.id, 1, 20).await.unwrap().unwrap().children.len(), 0);
    assert!(fp.get_flow(top.name(), "nope", 10, 20).await.unwrap().is_none());

    let p = processor(|job, _ctx| async move {
        if job.name == "fail" {
            return Err(bullmq::JobError::unrecoverable("no policy"));
        }
        Ok(JobOutcome::Completed(json!(job.data["n"])))
    });
    let (w, _rx) =
        Worker::spawn(low.name(), p, worker_opts(&low).drain_delay(Duration::from_millis(200))).await.unwrap();
    let fail_id = tree.children[1].job.id.clone();
    eventually("the child failed", Duration::from_secs(5), || async {
        low.get_job_state(&fail_id).await.unwrap() == JobState::Failed
    })
    .await;
    eventually("the other child completed", Duration::from_secs(5), || async {
        low.get_job_state(&tree.children[0].job.id).await.unwrap() == JobState::Completed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let read = fp.get_flow(top.name(), &tree.job.id, 10, 20).await.unwrap().unwrap();
    assert_eq!(read.state, JobState::WaitingChildren);
    assert_eq!(read.blocked_by, vec![k(&low, &fail_id)]);
    let mut states: Vec<JobState> = read.children.iter().map(|c| c.state).collect();
    states.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(states, vec![JobState::Completed, JobState::Failed]);
    let blocked = fp.get_blocked_parents(top.name()).await.unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(
        (blocked[0].id.as_str(), blocked[0].failed_children.clone()),
        (tree.job.id.as_str(), vec![k(&low, &fail_id)])
    );
}

#[tokio::test]
async fn removing_children_and_retrying_a_failed_one() {
    let q = queue("flow-remove").await;
    let fp = producer().await;
    let tree = fp
        .add(FlowJob::new("parent", q.name()).children(vec![FlowJob::new("a", q.name()), FlowJob::new("b", q.name())]))
        .await
        .unwrap();
    let (a, b) = (tree.children[0].job.id.clone(), tree.children[1].job.id.clone());
    assert!(q.remove_child_dependency(&a).await.unwrap());
    assert!(!q.remove_child_dependency(&a).await.unwrap(), "no link left");
    assert_eq!(q.get_job_state(&tree.job.id).await.unwrap(), JobState::WaitingChildren, "b still pending");
    assert!(q.remove_child_dependency(&b).await.unwrap());
    assert_eq!(q.get_job_state(&tree.job.id).await.unwrap(), JobState::Waiting, "released with its last child");
    assert!(matches!(q.remove_child_dependency("nope").await, Err(Error::Script(_))));

    // Unprocessed children (and theirs) removed; the parent goes on.
    let tree = fp
        .add(FlowJob::new("parent", q.name()).children(vec![
            FlowJob::new("c", q.name()),
            FlowJob::new("parent", q.name()).child(FlowJob::new("gc", q.name())),
        ]))
        .await
        .unwrap();
    assert_eq!(q.remove_unprocessed_children(&tree.job.id).await.unwrap(), 3);
    assert_eq!(q.get_job_state(&tree.job.id).await.unwrap(), JobState::Waiting);
    assert!(q.get_job(&tree.children[1].children[0].job.id).await.unwrap().is_none());

    // A child failed with no policy blocks its parent; retried and completed, it releases it.
    let q = queue("flow-retry").await;
    let tree =
        producer().await.add(FlowJob::new("parent", q.name()).child(FlowJob::new("flaky", q.name()))).await.unwrap();
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = tries.clone();
    let p = processor(move |job, _ctx| {
        let t = t.clone();
        async move {
            if job.name == "flaky" && t.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(bullmq::JobError::new("first try fails"));
            }
            Ok(JobOutcome::Completed(json!("ok")))
        }
    });
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    let child = tree.children[0].job.id.clone();
    eventually("the child failed", Duration::from_secs(5), || async {
        q.get_job_state(&child).await.unwrap() == JobState::Failed
    })
    .await;
    assert_eq!(fp.get_blocked_parents(q.name()).await.unwrap().len(), 1);
    let failed = q.get_job(&child).await.unwrap().unwrap();
    q.retry_job(&failed, JobState::Failed, false, false).await.unwrap();
    eventually("the parent completed", Duration::from_secs(5), || async {
        q.get_job_state(&tree.job.id).await.unwrap() == JobState::Completed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    assert!(fp.get_blocked_parents(q.name()).await.unwrap().is_empty());
}

#[tokio::test]
async fn dependencies_whole_and_by_page() {
    let q = queue("flow-deps").await;
    let children: Vec<FlowJob> = (0..300).map(|n| FlowJob::new("child", q.name()).data(json!({"n": n}))).collect();
    let tree = producer().await.add(FlowJob::new("parent", q.name()).children(children)).await.unwrap();
    let all = q.get_dependencies(&tree.job.id, bullmq::queue::DependenciesQuery::default()).await.unwrap();
    assert_eq!((all.unprocessed.len(), all.processed.len(), all.next_unprocessed_cursor), (300, 0, None));
    // By pages of ~50 from cursor 0 until the cursor comes back 0: every child once.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = 0;
    loop {
        let mut query = bullmq::queue::DependenciesQuery::default();
        query.unprocessed = Some((cursor, 50));
        let page = q.get_dependencies(&tree.job.id, query).await.unwrap();
        seen.extend(page.unprocessed);
        cursor = page.next_unprocessed_cursor.unwrap();
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
}

/// A failure that fails its parent, which fails its own parent (failParentOnFailure at two
/// levels), across two queues.
#[tokio::test]
async fn a_failure_cascades_up_two_levels() {
    let top = queue("flow-cascade-top").await;
    let low = queue("flow-cascade-low").await;
    let fail_parent = || JobOptions::default().parent_failure(ParentFailurePolicy::FailParent);
    let tree = producer()
        .await
        .add(
            FlowJob::new("parent", top.name()).child(
                FlowJob::new("parent", low.name())
                    .opts(fail_parent())
                    .child(FlowJob::new("fail", top.name()).opts(fail_parent())),
            ),
        )
        .await
        .unwrap();
    let p = processor(|job, _ctx| async move {
        if job.name == "fail" {
            return Err(bullmq::JobError::unrecoverable("leaf broke"));
        }
        Ok(JobOutcome::Completed(json!("ran")))
    });
    let (w1, _r1) =
        Worker::spawn(top.name(), p.clone(), worker_opts(&top).drain_delay(Duration::from_millis(200))).await.unwrap();
    let (w2, _r2) =
        Worker::spawn(low.name(), p, worker_opts(&low).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("the root failed", Duration::from_secs(10), || async {
        top.get_job_state(&tree.job.id).await.unwrap() == JobState::Failed
    })
    .await;
    w1.close(Duration::from_secs(2)).await;
    w2.close(Duration::from_secs(2)).await;
    let mid = &tree.children[0].job.id;
    assert_eq!(low.get_job_state(mid).await.unwrap(), JobState::Failed);
    let mid_job = low.get_job(mid).await.unwrap().unwrap();
    let leaf_key = k(&top, &tree.children[0].children[0].job.id);
    assert_eq!(mid_job.failed_reason.as_deref(), Some(format!("child {leaf_key} failed").as_str()));
    let root = top.get_job(&tree.job.id).await.unwrap().unwrap();
    assert_eq!(root.failed_reason.as_deref(), Some(format!("child {} failed", k(&low, mid)).as_str()));
    assert!(root.returnvalue.is_none(), "the root never ran");
}

/// A parent released by its children gets their values with its take: its processor reads them
/// without a call to Redis (shown by deleting the stored values before asking).
#[tokio::test]
async fn a_released_parent_gets_its_children_values_with_the_take() {
    let q = queue("flow-cv").await;
    let tree = producer()
        .await
        .add(FlowJob::new("parent", q.name()).children(vec![
            FlowJob::new("child", q.name()).data(json!({"n": 1})),
            FlowJob::new("child", q.name()).data(json!({"n": 2})),
        ]))
        .await
        .unwrap();
    let processed_key = k(&q, &format!("{}:processed", tree.job.id));
    let p = processor(move |job, ctx| {
        let processed_key = processed_key.clone();
        async move {
            if job.name == "parent" {
                let _: () = cmd(&["DEL", &processed_key]).await;
                let values = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
                return Ok(JobOutcome::Completed(json!(values.len())));
            }
            Ok(JobOutcome::Completed(json!({"n": job.data["n"]})))
        }
    });
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("the parent completed", Duration::from_secs(5), || async {
        q.get_job_state(&tree.job.id).await.unwrap() == JobState::Completed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let parent = q.get_job(&tree.job.id).await.unwrap().unwrap();
    assert_eq!(parent.returnvalue, Some(json!(2)), "both values came with the take");
}
