//! Hand-over (the app label `io.davit.update.strategy = "hand-over"`, as balena's): when the
//! app's file changes, the new version starts in the app's other container while the old one
//! runs on, held here, until the new one is up (running, ready with `notify`, healthy with a
//! healthcheck); then the old one is stopped. If the old file comes back first (a release
//! rolled back), the old container is given back as it runs and the new one is stopped: the
//! old version never went down.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use runtime::ProcessId;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Supervisor;
use super::lifecycle::{describe, reap, stop_gracefully};
use crate::app::App;

/// A container given back as it runs.
pub struct Running {
    pub pid: ProcessId,
    pub pidfd: OwnedFd,
    pub frozen: bool,
    /// It had sent READY=1 (or needs not).
    pub ready: bool,
}

enum Order {
    Stop,
    GiveBack,
}

/// The old version's container while the new one comes up.
pub struct Outgoing {
    pub id: String,
    /// The app file it runs from.
    pub app: App,
    orders: Option<oneshot::Sender<Order>>,
    done: JoinHandle<Option<Running>>,
}

impl Outgoing {
    /// Holds the container `id` of app `name`, running `app`, until told what to do with it;
    /// one that ends by itself meanwhile is reaped and deleted.
    pub fn hold(
        sup: Arc<Supervisor>,
        name: String,
        id: String,
        app: App,
        running: (ProcessId, AsyncFd<OwnedFd>),
        frozen: bool,
        ready: bool,
    ) -> Outgoing {
        let (tx, rx) = oneshot::channel();
        let (pid, exit) = running;
        let done = tokio::spawn({
            let (id, app) = (id.clone(), app.clone());
            async move {
                tokio::select! {
                    _ = exit.readable() => {
                        let end = reap(&exit);
                        tracing::info!("{name}: its old version ({id}) ended during the hand-over: {}", describe(&end));
                        let _ = sup.rt.delete(&id, true);
                        None
                    }
                    order = rx => match order {
                        Ok(Order::GiveBack) => Some(Running { pid, pidfd: exit.into_inner(), frozen, ready }),
                        // Told to stop, or dropped with the app.
                        _ => {
                            tracing::info!("{name}: stopping its old version ({id})");
                            stop_gracefully(&sup, &name, &id, &app, &exit, frozen).await;
                            let end = reap(&exit);
                            tracing::info!("{name}: its old version ({id}) stopped: {}", describe(&end));
                            let _ = sup.rt.delete(&id, true);
                            None
                        }
                    }
                }
            }
        });
        Outgoing {
            id,
            app,
            orders: Some(tx),
            done,
        }
    }

    /// Whether it was not told to stop yet.
    pub fn holding(&self) -> bool {
        self.orders.is_some()
    }

    /// Tells it to stop, without waiting for it.
    pub fn retire(&mut self) {
        if let Some(tx) = self.orders.take() {
            let _ = tx.send(Order::Stop);
        }
    }

    /// Stops it and waits until it is gone.
    pub async fn stop(mut self) {
        self.retire();
        let _ = self.done.await;
    }

    /// The container as it runs; `None` if it ended, or was told to stop (and now is gone).
    pub async fn give_back(mut self) -> Option<Running> {
        if let Some(tx) = self.orders.take() {
            let _ = tx.send(Order::GiveBack);
        }
        self.done.await.ok().flatten()
    }
}
