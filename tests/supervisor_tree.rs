//! Users' own supervision trees, built with `bullmq::supervisor` from `main` as an Elixir
//! application lists its children: a one_for_one supervisor holding two workers and a
//! `QueueEvents`; a worker that melts down is restarted by it and goes on with the same handle.

mod common;

use std::time::Duration;

use bullmq::supervisor::{RestartIntensity, Strategy, Supervisor, SupervisorEvent, SupervisorOptions};
use bullmq::{processor, JobOptions, JobOutcome, QueueEvents, QueueEventsOptions, Worker, WorkerEvent};
use common::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

async fn next_event(
    rx: &mut UnboundedReceiver<SupervisorEvent>,
    pred: impl Fn(&SupervisorEvent) -> bool,
) -> SupervisorEvent {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e = rx.recv().await.expect("supervisor events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

#[tokio::test]
async fn a_users_tree_of_two_workers_and_queue_events() {
    let (qa, qb) = (queue("tree-a").await, queue("tree-b").await);
    let double =
        processor(|job, _ctx| async move { Ok(JobOutcome::Completed(json!(job.data["n"].as_i64().map(|n| n * 2)))) });
    let wa = Worker::new(qa.name(), double.clone(), worker_opts(&qa).concurrency(2)).await.unwrap();
    let wb = Worker::new(qb.name(), double, worker_opts(&qb)).await.unwrap();
    let events = QueueEvents::new(qa.name(), QueueEventsOptions::new(conn()).autorun(false)).await.unwrap();
    assert!(!events.is_running(), "not started before the tree starts it");
    let children = vec![wa.child_spec(), wb.child_spec(), events.child_spec()];
    let (app, mut rx) =
        Supervisor::spawn("app", Strategy::OneForOne, children, SupervisorOptions::default()).await.unwrap();
    let mut started = Vec::new();
    while started.len() < 3 {
        if let SupervisorEvent::ChildStarted { supervisor, child } =
            next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildStarted { .. })).await
        {
            assert_eq!(supervisor, "app");
            started.push(child);
        }
    }
    let (a, b) = (qa.qualified_name(), qb.qualified_name());
    assert_eq!(started, vec![format!("worker:{a}"), format!("worker:{b}"), format!("queue-events:{a}")]);
    assert!(events.is_running());
    assert!(wa.supervisor().is_some_and(|s| s.is_running()), "each worker is a supervisor of its own");

    let ja = qa.add("double", json!({"n": 21}), JobOptions::default()).await.unwrap();
    qb.add("double", json!({"n": 4}), JobOptions::default()).await.unwrap();
    assert_eq!(events.wait_until_finished(&ja, Duration::from_secs(10)).await.unwrap(), json!(42));
    eventually("the other queue's job done", Duration::from_secs(10), || async {
        qb.get_completed_count().await.unwrap() == 1
    })
    .await;
    let rv: String = cmd(&["HGET", &k(&qb, "1"), "returnvalue"]).await;
    assert_eq!(rv, "8");
    assert_eq!(app.which_children().await.unwrap().len(), 3);

    // Closing a child is a normal stop: the tree lets it go instead of restarting it.
    events.close().await;
    let e = next_event(&mut rx, |e| {
        matches!(e, SupervisorEvent::ChildStopped { .. } | SupervisorEvent::ChildRestarted { .. })
    })
    .await;
    assert!(matches!(&e, SupervisorEvent::ChildStopped { child, .. } if child.starts_with("queue-events")), "{e}");
    assert_eq!(app.which_children().await.unwrap().len(), 2);

    app.stop(Some(Duration::from_secs(20))).await;
    assert!(!app.is_running());
    assert!(!events.is_running(), "stopping the tree stops its children");
    assert!(wa.supervisor().is_some_and(|s| !s.is_running()));
}

/// A worker whose own restart intensity is used up fails; the user's supervisor restarts it (a
/// fresh tree), and the same `Worker` handle and event subscription go on.
#[cfg(feature = "testing")]
#[tokio::test]
async fn a_worker_that_melts_down_is_restarted_by_the_users_supervisor() {
    let q = queue("tree-melt").await;
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!("ok"))) });
    let opts = worker_opts(&q).restart_intensity(RestartIntensity::new(0, Duration::from_secs(10)));
    let w = Worker::new(q.name(), p, opts).await.unwrap();
    let mut worker_events = w.subscribe();
    let (app, mut rx) =
        Supervisor::spawn("app", Strategy::OneForOne, vec![w.child_spec()], SupervisorOptions::default())
            .await
            .unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildStarted { .. })).await;
    let first_tree = w.supervisor().unwrap();
    // Intensity 0: the first crash of a child melts the worker down.
    w.inject_panic("fetcher").await;
    wait_for(&mut worker_events, |e| matches!(e, WorkerEvent::Meltdown { .. })).await;
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildFailed { .. })).await;
    assert!(matches!(&e, SupervisorEvent::ChildFailed { reason, .. } if reason.contains("meltdown")), "{e}");
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
    eventually("a fresh tree", Duration::from_secs(5), || async {
        w.supervisor().is_some_and(|t| t.is_running() && t.cell().get_id() != first_tree.cell().get_id())
    })
    .await;
    q.add("after", json!({}), JobOptions::default()).await.unwrap();
    let e = wait_for(&mut worker_events, |e| matches!(e, WorkerEvent::JobCompleted { .. })).await;
    assert!(matches!(e, WorkerEvent::JobCompleted { ref id, .. } if id == "1"), "{e}");
    // A close is a normal stop of a transient child: not restarted.
    w.close(Duration::from_secs(2)).await;
    let e = next_event(&mut rx, |e| {
        matches!(e, SupervisorEvent::ChildStopped { .. } | SupervisorEvent::ChildRestarted { .. })
    })
    .await;
    assert!(matches!(e, SupervisorEvent::ChildStopped { .. }), "{e}");
    assert!(app.which_children().await.unwrap().is_empty());
    app.stop(None).await;
}
