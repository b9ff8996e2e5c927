//! Supervision tested with dummy actors: restart counts, meltdown at exactly N+1, escalation,
//! strategies and shutdown order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;

type Log = Arc<Mutex<Vec<String>>>;

enum DummyMsg {
    Crash,
    Panic,
    Stop,
}

struct Dummy {
    name: String,
    log: Log,
}

impl Actor for Dummy {
    type Msg = DummyMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<DummyMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        self.log.lock().unwrap().push(format!("start:{}", self.name));
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<DummyMsg>, _: &mut ()) -> Result<(), ActorProcessingErr> {
        self.log.lock().unwrap().push(format!("stop:{}", self.name));
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<DummyMsg>, msg: DummyMsg, _: &mut ()) -> Result<(), ActorProcessingErr> {
        match msg {
            DummyMsg::Crash => Err(format!("{} crashed", self.name).into()),
            DummyMsg::Panic => panic!("{} panicked", self.name),
            DummyMsg::Stop => {
                myself.stop(None);
                Ok(())
            }
        }
    }
}

fn dummy(name: &str, restart: Restart, log: &Log) -> ChildSpec {
    let (name, log) = (name.to_owned(), log.clone());
    ChildSpec::new(name.clone(), restart, move |sup: ActorCell| {
        let (name, log) = (name.clone(), log.clone());
        async move {
            let (r, _) = Actor::spawn_linked(None, Dummy { name, log }, (), sup).await?;
            Ok(r.get_cell())
        }
    })
}

async fn children(sup: &Supervisor) -> Vec<(String, ActorCell)> {
    sup.which_children().await.unwrap()
}

async fn child(sup: &Supervisor, id: &str) -> ActorRef<DummyMsg> {
    children(sup).await.into_iter().find(|(c, _)| c == id).map(|(_, cell)| cell.into()).expect("child running")
}

async fn next_event(
    rx: &mut UnboundedReceiver<SupervisorEvent>,
    pred: impl Fn(&SupervisorEvent) -> bool,
) -> SupervisorEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = rx.recv().await.expect("event channel open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

fn opts(max_restarts: u32) -> SupervisorOptions {
    SupervisorOptions::default()
        .intensity(RestartIntensity::new(max_restarts, Duration::from_secs(10)))
        .backoff(RestartBackoff::new(Duration::from_millis(1), Duration::from_millis(5)))
}

async fn spawn(
    name: &str,
    strategy: Strategy,
    specs: Vec<ChildSpec>,
    max_restarts: u32,
) -> (Supervisor, UnboundedReceiver<SupervisorEvent>) {
    Supervisor::spawn(name, strategy, specs, opts(max_restarts)).await.unwrap()
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let log = Log::default();
    let specs = vec![dummy("a", Restart::Permanent, &log), dummy("b", Restart::Permanent, &log)];
    let (sup, mut rx) = spawn("s", Strategy::OneForOne, specs, 5).await;
    let b_before = child(&sup, "b").await.get_id();
    child(&sup, "a").await.send_message(DummyMsg::Panic).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
    assert_eq!(e, SupervisorEvent::ChildRestarted { supervisor: "s".into(), child: "a".into(), restarts: 1 });
    assert_eq!(child(&sup, "b").await.get_id(), b_before, "the sibling was not touched");
    assert_eq!(log.lock().unwrap().iter().filter(|l| *l == "start:a").count(), 2);
    sup.stop(None).await;
}

#[tokio::test]
async fn meltdown_at_exactly_n_plus_one_failures() {
    let log = Log::default();
    let (sup, mut rx) = spawn("m", Strategy::OneForOne, vec![dummy("a", Restart::Permanent, &log)], 3).await;
    for n in 1..=3 {
        child(&sup, "a").await.send_message(DummyMsg::Crash).unwrap();
        let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
        assert_eq!(e, SupervisorEvent::ChildRestarted { supervisor: "m".into(), child: "a".into(), restarts: n });
    }
    child(&sup, "a").await.send_message(DummyMsg::Crash).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::Meltdown { .. })).await;
    assert_eq!(e, SupervisorEvent::Meltdown { supervisor: "m".into(), restarts: 3, within: Duration::from_secs(10) });
    tokio::time::timeout(Duration::from_secs(5), sup.wait()).await.expect("supervisor stops after meltdown");
    assert!(!sup.is_running());
    assert_eq!(log.lock().unwrap().iter().filter(|l| *l == "start:a").count(), 4);
}

#[tokio::test]
async fn meltdown_escalates_to_the_parent_supervisor() {
    let log = Log::default();
    let inner_log = log.clone();
    let leaf = dummy("leaf", Restart::Permanent, &inner_log);
    // Intensity 0: the leaf's first crash melts the inner supervisor down.
    let inner = Supervisor::child_spec("inner", Strategy::OneForOne, vec![leaf], opts(0));
    let (outer, mut rx) = spawn("outer", Strategy::OneForOne, vec![inner], 5).await;
    let leaf_cell = loop {
        // The leaf is the inner supervisor's only child, linked under its cell.
        let inner_cell = children(&outer).await.remove(0).1;
        if let Some(c) = inner_cell.get_children().into_iter().next() {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    ActorRef::<DummyMsg>::from(leaf_cell).send_message(DummyMsg::Crash).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildFailed { .. })).await;
    match e {
        SupervisorEvent::ChildFailed { supervisor, child, reason } => {
            assert_eq!((supervisor.as_str(), child.as_str()), ("outer", "inner"));
            assert!(reason.contains("meltdown"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { child, .. } if child == "inner")).await;
    assert_eq!(log.lock().unwrap().iter().filter(|l| *l == "start:leaf").count(), 2, "the subtree was rebuilt");
    outer.stop(None).await;
}

#[tokio::test]
async fn shutdown_stops_children_in_reverse_start_order() {
    let log = Log::default();
    let specs = vec![
        dummy("a", Restart::Permanent, &log),
        dummy("b", Restart::Permanent, &log),
        dummy("c", Restart::Permanent, &log),
    ];
    let (sup, _rx) = spawn("o", Strategy::OneForOne, specs, 5).await;
    sup.stop(Some(Duration::from_secs(5))).await;
    let stops: Vec<String> = log.lock().unwrap().iter().filter(|l| l.starts_with("stop:")).cloned().collect();
    assert_eq!(stops, vec!["stop:c", "stop:b", "stop:a"]);
}

#[tokio::test]
async fn transient_and_temporary_children() {
    let log = Log::default();
    let specs = vec![
        dummy("t", Restart::Transient, &log),
        dummy("tmp", Restart::Temporary, &log),
        dummy("p", Restart::Permanent, &log),
    ];
    let (sup, mut rx) = spawn("x", Strategy::OneForOne, specs, 5).await;
    child(&sup, "t").await.send_message(DummyMsg::Stop).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildStopped { child, .. } if child == "t")).await;
    child(&sup, "tmp").await.send_message(DummyMsg::Crash).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildFailed { child, .. } if child == "tmp")).await;
    child(&sup, "p").await.send_message(DummyMsg::Stop).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { child, .. } if child == "p")).await;
    let running: Vec<String> = children(&sup).await.into_iter().map(|c| c.0).collect();
    assert_eq!(running, vec!["p"], "a transient child that stopped normally and a temporary one stay down");
    sup.stop(None).await;
}

#[tokio::test]
async fn one_for_all_and_rest_for_one() {
    for (strategy, expect_a_restarted) in [(Strategy::OneForAll, true), (Strategy::RestForOne, false)] {
        let log = Log::default();
        let specs = vec![
            dummy("a", Restart::Permanent, &log),
            dummy("b", Restart::Permanent, &log),
            dummy("c", Restart::Permanent, &log),
        ];
        let (sup, mut rx) = spawn("s", strategy, specs, 5).await;
        let before: Vec<_> = children(&sup).await.into_iter().map(|(_, c)| c.get_id()).collect();
        child(&sup, "b").await.send_message(DummyMsg::Crash).unwrap();
        next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { child, .. } if child == "c")).await;
        let mut after = Vec::new();
        for _ in 0..100 {
            after = children(&sup).await;
            if after.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ids: Vec<String> = after.iter().map(|c| c.0.clone()).collect();
        assert_eq!(ids, vec!["a", "b", "c"], "{strategy:?} keeps start order");
        assert_eq!(after[0].1.get_id() != before[0], expect_a_restarted, "{strategy:?}: a");
        assert_ne!(after[1].1.get_id(), before[1]);
        assert_ne!(after[2].1.get_id(), before[2]);
        sup.stop(None).await;
    }
}

#[tokio::test]
async fn failed_restarts_back_off_further() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let log = Log::default();
    let healthy = Arc::new(AtomicBool::new(true));
    let spec = {
        let (log, healthy) = (log.clone(), healthy.clone());
        ChildSpec::new("flaky", Restart::Permanent, move |sup: ActorCell| {
            let (log, healthy) = (log.clone(), healthy.clone());
            async move {
                if !healthy.load(Ordering::SeqCst) {
                    // What a child whose Redis is down does: it cannot start.
                    return Err(ractor::SpawnErr::StartupFailed("dependency down".into()));
                }
                let name = "flaky".to_owned();
                let (r, _) = Actor::spawn_linked(None, Dummy { name, log }, (), sup).await?;
                Ok(r.get_cell())
            }
        })
    };
    let o = SupervisorOptions::default()
        .intensity(RestartIntensity::new(10, Duration::from_secs(10)))
        .backoff(RestartBackoff::new(Duration::from_millis(20), Duration::from_secs(1)));
    let (sup, mut rx) = Supervisor::spawn("b", Strategy::OneForOne, vec![spec], o).await.unwrap();
    healthy.store(false, Ordering::SeqCst);
    child(&sup, "flaky").await.send_message(DummyMsg::Crash).unwrap();
    let mut at = Vec::new();
    while at.len() < 4 {
        let e = next_event(
            &mut rx,
            |e| matches!(e, SupervisorEvent::ChildFailed { reason, .. } if reason.starts_with("restart failed")),
        )
        .await;
        drop(e);
        at.push(std::time::Instant::now());
    }
    // Failed restarts k and k+1 are at least 20 ms * 2^(k+1) apart (backoff lower bounds).
    for (k, w) in at.windows(2).enumerate() {
        let gap = w[1] - w[0];
        let min = Duration::from_millis(20 << (k + 1));
        assert!(gap >= min, "gap {k}: {gap:?} < {min:?}");
    }
    healthy.store(true, Ordering::SeqCst);
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
    sup.stop(None).await;
}

#[tokio::test]
async fn temporary_children_started_outside_the_mailbox_report_failures_and_stop_first() {
    let log = Log::default();
    let (sup, mut rx) = spawn("t", Strategy::OneForOne, vec![dummy("static", Restart::Permanent, &log)], 5).await;
    let started = {
        let log = log.clone();
        sup.start_temporary("job:1".into(), Duration::from_secs(1), move |cell| async move {
            let (r, _) = Actor::spawn_linked(None, Dummy { name: "job:1".into(), log }, (), cell).await?;
            Ok(r.get_cell())
        })
        .await
        .unwrap()
    };
    let ids: Vec<String> = children(&sup).await.into_iter().map(|c| c.0).collect();
    assert_eq!(ids, vec!["static", "job:1"]);
    ActorRef::<DummyMsg>::from(started).send_message(DummyMsg::Crash).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildFailed { .. })).await;
    assert!(matches!(e, SupervisorEvent::ChildFailed { child, .. } if child == "job:1"), "reported, not restarted");
    let ids: Vec<String> = children(&sup).await.into_iter().map(|c| c.0).collect();
    assert_eq!(ids, vec!["static"]);
    // Another one, then a stop: the temporary child stops before the static one.
    let log2 = log.clone();
    sup.start_temporary("job:2".into(), Duration::from_secs(1), move |cell| async move {
        let (r, _) = Actor::spawn_linked(None, Dummy { name: "job:2".into(), log: log2 }, (), cell).await?;
        Ok(r.get_cell())
    })
    .await
    .unwrap();
    sup.stop(Some(Duration::from_secs(5))).await;
    let stops: Vec<String> = log.lock().unwrap().iter().filter(|l| l.starts_with("stop:")).cloned().collect();
    assert_eq!(stops, vec!["stop:job:2", "stop:static"]);
}

#[tokio::test]
async fn start_child_and_terminate_child_through_the_handle() {
    let log = Log::default();
    let (sup, mut rx) = spawn("h", Strategy::OneForOne, vec![], 5).await;
    sup.start_child(dummy("late", Restart::Permanent, &log)).await.unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildStarted { child, .. } if child == "late")).await;
    sup.start_child(dummy("tmp", Restart::Temporary, &log)).await.unwrap();
    assert_eq!(children(&sup).await.len(), 2);
    assert!(sup.terminate_child("late").await.unwrap());
    assert!(sup.terminate_child("tmp").await.unwrap());
    assert!(!sup.terminate_child("nope").await.unwrap());
    assert!(children(&sup).await.is_empty());
    let started = log.lock().unwrap().iter().filter(|l| l.starts_with("start:")).count();
    assert_eq!(started, 2, "terminated children are not restarted");
    sup.stop(None).await;
}
