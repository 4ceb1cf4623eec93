//! The chaos monkey: SIGKILLs of the consumer process at random moments of the chaos phase, each
//! followed after a short random pause by a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use outbox_bench::lock;

use crate::stack::Consumers;

/// The running monkey, and the flag that stops it before its next kill.
pub struct ChaosMonkey {
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl ChaosMonkey {
    /// Schedules `kills` kills over the time `messages` deliveries are expected to take, and starts.
    pub fn start(
        consumers: Arc<Mutex<Consumers>>,
        rng: &mut fastrand::Rng,
        kills: usize,
        messages: usize,
    ) -> ChaosMonkey {
        let stop = Arc::new(AtomicBool::new(false));
        let schedule = kill_times(rng, kills, messages);
        let task = tokio::spawn(kill_and_restart(consumers, schedule, stop.clone(), rng.u64(..)));
        ChaosMonkey { stop, task }
    }

    /// Set by whoever sees the run settled: no kill starts after it.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// No further kills; returns once a kill in progress has restarted the consumers.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
    }
}

/// Kill moments, in seconds from the start, spread over the time the chaos phase is expected to
/// take (deliveries run at roughly 25 a second on two cores).
fn kill_times(rng: &mut fastrand::Rng, kills: usize, messages: usize) -> Vec<f64> {
    let expected = (messages as f64 / 25.0).max(10.0);
    let mut times: Vec<f64> = (0..kills).map(|_| 1.0 + rng.f64() * expected * 0.8).collect();
    times.sort_by(f64::total_cmp);
    times
}

/// SIGKILLs the consumers at each scheduled moment and restarts them after a short random pause.
async fn kill_and_restart(consumers: Arc<Mutex<Consumers>>, schedule: Vec<f64>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for at in schedule {
        let wait = Duration::from_secs_f64(at).saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        lock(&consumers).kill();
        tokio::time::sleep(Duration::from_millis(rng.u64(200..1500))).await;
        if let Err(err) = lock(&consumers).start() {
            eprintln!("soak: could not restart the consumers: {err}");
        }
    }
}
