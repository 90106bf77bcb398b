//! The supervisor restarts a panicking child without disturbing its
//! siblings, and escalates when restarts stop helping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_actors::slot::Slot;
use routerd_actors::supervisor::{ChildSpec, Notice, Policy, Supervisor, SupervisorArgs, children};

enum TestMsg {
    Ping(RpcReplyPort<u64>),
    Boom,
}

struct Worker {
    slot: Slot<TestMsg>,
}

impl Actor for Worker {
    type Msg = TestMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<TestMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        self.slot.set(myself);
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<TestMsg>,
        msg: TestMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TestMsg::Ping(reply) => {
                *count += 1;
                let _ = reply.send(*count);
            }
            TestMsg::Boom => panic!("injected panic"),
        }
        Ok(())
    }
}

fn worker(name: &str, slot: Slot<TestMsg>) -> ChildSpec {
    ChildSpec::permanent(name, move |sup| {
        let slot = slot.clone();
        async move {
            let (r, _) = Actor::spawn_linked(None, Worker { slot }, (), sup).await?;
            Ok(r.get_cell())
        }
        .boxed()
    })
}

async fn ping(slot: &Slot<TestMsg>) -> Option<u64> {
    let actor = slot.get()?;
    match actor
        .call(TestMsg::Ping, Some(Duration::from_secs(2)))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(n)) => Some(n),
        _ => None,
    }
}

async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_panicking_child_is_restarted_and_its_sibling_keeps_serving() {
    let (a, b) = (Slot::new(), Slot::new());
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let (sup, handle) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            name: "test".into(),
            children: vec![worker("a", a.clone()), worker("b", b.clone())],
            policy: Policy::default(),
            observer: Some(Arc::new(move |n| seen.lock().unwrap().push(n))),
        },
    )
    .await
    .unwrap();

    assert_eq!(ping(&b).await, Some(1));
    let first = a.get().unwrap().get_id();
    a.cast(TestMsg::Boom);
    wait_for("a restarted", || {
        let a = a.clone();
        async move { a.get().is_some_and(|r| r.get_id() != first) && ping(&a).await.is_some() }
    })
    .await;
    // The sibling kept its state: it was never restarted.
    assert_eq!(ping(&b).await, Some(2));
    let infos = children(&sup).await;
    let a_info = infos.iter().find(|c| c.name == "a").unwrap();
    assert_eq!(a_info.restarts, 1);
    assert!(
        a_info
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("injected panic"),
        "{a_info:?}"
    );
    assert_eq!(infos.iter().find(|c| c.name == "b").unwrap().restarts, 0);
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|n| matches!(n, Notice::Restarted { child, .. } if child == "a"))
    );

    sup.stop(None);
    handle.await.unwrap();
}

#[tokio::test]
async fn exceeding_the_restart_intensity_escalates() {
    let (a, b) = (Slot::new(), Slot::new());
    let (sup, handle) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            name: "test".into(),
            children: vec![worker("a", a.clone()), worker("b", b.clone())],
            policy: Policy {
                max_restarts: 2,
                within: Duration::from_secs(60),
                backoff_initial: Duration::from_millis(1),
                backoff_max: Duration::from_millis(5),
                stable_after: Duration::from_secs(60),
            },
            observer: None,
        },
    )
    .await
    .unwrap();
    for round in 0..3 {
        let before = a.get().map(|r| r.get_id());
        a.cast(TestMsg::Boom);
        if round < 2 {
            wait_for("restart", || {
                let a = a.clone();
                async move { a.get().map(|r| r.get_id()) != before && ping(&a).await.is_some() }
            })
            .await;
        }
    }
    // The third failure within the window makes the supervisor give up:
    // it stops, taking its remaining child with it.
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("supervisor stopped")
        .unwrap();
    assert_eq!(sup.get_status(), ractor::ActorStatus::Stopped);
    wait_for("sibling stopped", || {
        let b = b.clone();
        async move { ping(&b).await.is_none() }
    })
    .await;
}
