//! Supervision tested with dummy actors: restart counts, meltdown at exactly N+1, escalation,
//! strategies and shutdown order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

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

async fn children(sup: &ActorRef<SupervisorMsg>) -> Vec<(String, ActorCell)> {
    ractor::call!(sup, SupervisorMsg::WhichChildren).unwrap()
}

async fn child(sup: &ActorRef<SupervisorMsg>, id: &str) -> ActorRef<DummyMsg> {
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

fn args(
    name: &str,
    strategy: Strategy,
    specs: Vec<ChildSpec>,
    max_restarts: u32,
) -> (SupervisorArgs, UnboundedReceiver<SupervisorEvent>) {
    let (tx, rx) = unbounded_channel();
    let mut a = SupervisorArgs::new(name, strategy, specs);
    a.intensity = RestartIntensity { max_restarts, within: Duration::from_secs(10) };
    a.backoff = RestartBackoff { initial: Duration::from_millis(1), max: Duration::from_millis(5) };
    a.subscribers.push(tx);
    (a, rx)
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let log = Log::default();
    let (a, mut rx) = args(
        "s",
        Strategy::OneForOne,
        vec![dummy("a", Restart::Permanent, &log), dummy("b", Restart::Permanent, &log)],
        5,
    );
    let (sup, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
    let b_before = child(&sup, "b").await.get_id();
    child(&sup, "a").await.send_message(DummyMsg::Panic).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
    assert_eq!(e, SupervisorEvent::ChildRestarted { supervisor: "s".into(), child: "a".into(), restarts: 1 });
    assert_eq!(child(&sup, "b").await.get_id(), b_before, "the sibling was not touched");
    assert_eq!(log.lock().unwrap().iter().filter(|l| *l == "start:a").count(), 2);
    sup.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn meltdown_at_exactly_n_plus_one_failures() {
    let log = Log::default();
    let (a, mut rx) = args("m", Strategy::OneForOne, vec![dummy("a", Restart::Permanent, &log)], 3);
    let (sup, handle) = Actor::spawn(None, Supervisor, a).await.unwrap();
    for n in 1..=3 {
        child(&sup, "a").await.send_message(DummyMsg::Crash).unwrap();
        let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { .. })).await;
        assert_eq!(e, SupervisorEvent::ChildRestarted { supervisor: "m".into(), child: "a".into(), restarts: n });
    }
    child(&sup, "a").await.send_message(DummyMsg::Crash).unwrap();
    let e = next_event(&mut rx, |e| matches!(e, SupervisorEvent::Meltdown { .. })).await;
    assert_eq!(e, SupervisorEvent::Meltdown { supervisor: "m".into(), restarts: 3, within: Duration::from_secs(10) });
    tokio::time::timeout(Duration::from_secs(5), handle).await.expect("supervisor stops after meltdown").unwrap();
    assert_eq!(log.lock().unwrap().iter().filter(|l| *l == "start:a").count(), 4);
}

#[tokio::test]
async fn meltdown_escalates_to_the_parent_supervisor() {
    let log = Log::default();
    let inner_log = log.clone();
    let inner = ChildSpec::new("inner", Restart::Permanent, move |sup: ActorCell| {
        let log = inner_log.clone();
        async move {
            let (a, _) = args("inner", Strategy::OneForOne, vec![dummy("leaf", Restart::Permanent, &log)], 0);
            let (r, _) = Actor::spawn_linked(None, Supervisor, a, sup).await?;
            Ok(r.get_cell())
        }
    });
    let (a, mut rx) = args("outer", Strategy::OneForOne, vec![inner], 5);
    let (outer, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
    let inner_ref: ActorRef<SupervisorMsg> = children(&outer).await.remove(0).1.into();
    // Intensity 0: the leaf's first crash melts the inner supervisor down.
    child(&inner_ref, "leaf").await.send_message(DummyMsg::Crash).unwrap();
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
    outer.stop_and_wait(None, None).await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_children_in_reverse_start_order() {
    let log = Log::default();
    let specs = vec![
        dummy("a", Restart::Permanent, &log),
        dummy("b", Restart::Permanent, &log),
        dummy("c", Restart::Permanent, &log),
    ];
    let (a, _rx) = args("o", Strategy::OneForOne, specs, 5);
    let (sup, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
    sup.stop_and_wait(None, Some(Duration::from_secs(5))).await.unwrap();
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
    let (a, mut rx) = args("x", Strategy::OneForOne, specs, 5);
    let (sup, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
    child(&sup, "t").await.send_message(DummyMsg::Stop).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildStopped { child, .. } if child == "t")).await;
    child(&sup, "tmp").await.send_message(DummyMsg::Crash).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildFailed { child, .. } if child == "tmp")).await;
    child(&sup, "p").await.send_message(DummyMsg::Stop).unwrap();
    next_event(&mut rx, |e| matches!(e, SupervisorEvent::ChildRestarted { child, .. } if child == "p")).await;
    let running: Vec<String> = children(&sup).await.into_iter().map(|c| c.0).collect();
    assert_eq!(running, vec!["p"], "a transient child that stopped normally and a temporary one stay down");
    sup.stop_and_wait(None, None).await.unwrap();
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
        let (a, mut rx) = args("s", strategy, specs, 5);
        let (sup, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
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
        sup.stop_and_wait(None, None).await.unwrap();
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
    let (tx, mut rx) = unbounded_channel();
    let mut a = SupervisorArgs::new("b", Strategy::OneForOne, vec![spec]);
    a.intensity = RestartIntensity { max_restarts: 10, within: Duration::from_secs(10) };
    a.backoff = RestartBackoff { initial: Duration::from_millis(20), max: Duration::from_secs(1) };
    a.subscribers.push(tx);
    let (sup, _h) = Actor::spawn(None, Supervisor, a).await.unwrap();
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
    sup.stop_and_wait(None, None).await.unwrap();
}
