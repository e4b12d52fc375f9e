//! Deadlines for database calls, watched by one watcher per [`Deadlines`] (under Spin: per
//! request) instead of a host timer raced against each call.
//!
//! Every database call is raced against `db_timeout_ms`. Under Spin 4.0.2 a host timer per
//! call (`spin_sdk::time::sleep` raced with `select`) cost about 0.12 of the whole CPU per
//! request of a one-statement GET
//! (docs/decisions/2026-11-29-timer-per-call-and-log-line.md): the statement nearly always
//! wins, and cancelling a pending host call blocks the guest until the host has dropped it.
//!
//! Here a call registers its deadline in a [`Deadlines`] instead. One watcher
//! ([`Deadlines::watch`], started by the first deadline that finds none running, with the
//! `start` function given to [`Deadlines::new`]) sleeps until the earliest pending
//! deadline, fires every deadline that has passed (waking the call that waits on it), and
//! stops when none is left. Its sleep is never cut short by a call that finishes: when the
//! calls are done first, the watcher's host timer runs out and the watcher finds nothing
//! to fire. Only a deadline earlier than the one it sleeps for wakes it early (it then
//! sleeps again, shorter); the calls of one request register later deadlines one after the
//! other, so that does not happen there.
//!
//! A fired [`Deadline`] completes; dropping one (the call finished first) only removes it
//! from the list. The watcher must run where its sleep can wake it and where it can wake
//! the calls: the Spin components keep one [`Deadlines`] per request and run its watcher in
//! that request's task (`spin_sdk::wasip3::spawn`), so every wakeup stays inside one
//! component-model task. (One watcher shared by an instance's concurrent requests, tried
//! before, needs `wit-bindgen`'s inter-task wakeups, which add stream operations to every
//! wait of every task: docs/decisions/2026-11-29-watcher-per-request.md.)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The deadlines of a set of pending calls (under Spin: one request's), and whether a
/// watcher runs.
pub struct Deadlines {
    state: RefCell<State>,
    start: fn(Rc<Deadlines>),
}

#[derive(Default)]
struct State {
    pending: BTreeMap<u64, Entry>,
    next_id: u64,
    /// A watcher runs (or has been started and not yet polled).
    watching: bool,
    /// The deadline the watcher sleeps for, and its waker while it sleeps.
    watching_until: Option<Instant>,
    watcher: Option<Waker>,
    /// The clock reading of the latest [`Deadlines::after`]: a watcher's first sleep is
    /// measured from it instead of reading the clock again (under Spin every reading is a
    /// host call).
    read_at: Option<Instant>,
}

/// The watcher role: given up when the watcher ends or is dropped.
struct Role(Rc<Deadlines>);

impl Drop for Role {
    fn drop(&mut self) {
        let mut state = self.0.state.borrow_mut();
        state.watching = false;
        state.watching_until = None;
        state.watcher = None;
    }
}

/// Completes when a deadline earlier than the one the watcher sleeps for is registered.
struct Earlier<'a>(&'a Deadlines);

impl Future for Earlier<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.state.borrow_mut();
        if state.watching_until.is_none() {
            return Poll::Ready(());
        }
        state.watcher = Some(cx.waker().clone());
        Poll::Pending
    }
}

struct Entry {
    at: Instant,
    fired: bool,
    waker: Option<Waker>,
}

impl Deadlines {
    /// `start` runs [`Deadlines::watch`] in the background (it is called with the watcher
    /// role already taken, when a deadline is registered and no watcher runs).
    pub fn new(start: fn(Rc<Deadlines>)) -> Rc<Deadlines> {
        Rc::new(Deadlines {
            state: RefCell::new(State::default()),
            start,
        })
    }

    /// A future that completes `after` from now (once the watcher sees that time pass).
    pub fn after(self: &Rc<Self>, after: Duration) -> Deadline {
        let now = Instant::now();
        self.state.borrow_mut().read_at = Some(now);
        Deadline {
            deadlines: Rc::clone(self),
            at: now
                .checked_add(after)
                .unwrap_or(now + Duration::from_secs(86_400)),
            id: None,
        }
    }

    /// How many deadlines are registered and not yet dropped (fired ones included).
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.state.borrow().pending.len()
    }

    /// Whether a watcher is running.
    #[cfg(test)]
    fn is_watched(&self) -> bool {
        self.state.borrow().watching
    }

    /// The earliest deadline that has not fired.
    fn next(&self) -> Option<Instant> {
        let state = self.state.borrow();
        state
            .pending
            .values()
            .filter(|entry| !entry.fired)
            .map(|entry| entry.at)
            .min()
    }

    /// Fires every deadline at or before `now` and wakes the calls waiting on them.
    fn fire_expired(&self, now: Instant) {
        let wakers: Vec<Waker> = {
            let mut state = self.state.borrow_mut();
            state
                .pending
                .values_mut()
                .filter(|entry| !entry.fired && entry.at <= now)
                .filter_map(|entry| {
                    entry.fired = true;
                    entry.waker.take()
                })
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// The watcher: sleeps (with `sleep`, the host's timer) until the earliest pending
    /// deadline, fires what has passed, and returns when nothing is pending. A deadline
    /// registered meanwhile that is earlier than the one it sleeps for (a shorter duration)
    /// wakes it to sleep again, shorter. It holds the watcher role from the moment it is
    /// created: finished, or dropped even before it ran, it gives the role up, so the next
    /// deadline starts a new watcher.
    ///
    /// It reads the clock only when it must: its first sleep is measured from the latest
    /// [`Deadlines::after`]'s reading (the watcher is started by that deadline's
    /// registration and first polled right after it, in the same task, so it sleeps longer
    /// only by the moments in between), and after a sleep with nothing left pending (the
    /// calls finished first) it stops without a reading.
    pub fn watch<S, F>(self: Rc<Self>, sleep: S) -> impl Future<Output = ()>
    where
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let role = Role(self);
        async move {
            let deadlines = &role.0;
            let mut read_at = deadlines.state.borrow_mut().read_at.take();
            while let Some(next) = deadlines.next() {
                let now = read_at.take().unwrap_or_else(Instant::now);
                if next > now {
                    deadlines.state.borrow_mut().watching_until = Some(next);
                    let slept = std::pin::pin!(sleep(next - now));
                    let earlier = Earlier(deadlines);
                    futures_util::future::select(slept, earlier).await;
                    {
                        let mut state = deadlines.state.borrow_mut();
                        state.watching_until = None;
                        state.watcher = None;
                    }
                    if deadlines.next().is_none() {
                        break;
                    }
                }
                deadlines.fire_expired(Instant::now());
            }
        }
    }

    /// Registers a deadline; starts a watcher if none runs. Returns its id and whether a
    /// watcher was started.
    fn register(self: &Rc<Self>, at: Instant, waker: &Waker) -> (u64, bool) {
        let (id, start, earlier) = {
            let mut state = self.state.borrow_mut();
            let id = state.next_id;
            state.next_id = state.next_id.wrapping_add(1);
            state.pending.insert(
                id,
                Entry {
                    at,
                    fired: false,
                    waker: Some(waker.clone()),
                },
            );
            let start = !state.watching;
            state.watching = true;
            let earlier = match state.watching_until {
                Some(until) if at < until => {
                    state.watching_until = None;
                    state.watcher.take()
                }
                _ => None,
            };
            (id, start, earlier)
        };
        if start {
            (self.start)(Rc::clone(self));
        }
        if let Some(watcher) = earlier {
            watcher.wake();
        }
        (id, start)
    }
}

/// One call's deadline: completes when the watcher finds it passed. Registered on its
/// first poll, removed when dropped.
pub struct Deadline {
    deadlines: Rc<Deadlines>,
    at: Instant,
    id: Option<u64>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(id) = self.id else {
            let (id, started) = self.deadlines.register(self.at, cx.waker());
            self.id = Some(id);
            if started {
                // A spawned watcher is first polled when this task is polled again: make
                // sure it is, even if nothing else would wake it (a hung database).
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        };
        let mut state = self.deadlines.state.borrow_mut();
        match state.pending.get_mut(&id) {
            Some(entry) if entry.fired => Poll::Ready(()),
            Some(entry) => {
                if !entry
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    entry.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.deadlines.state.borrow_mut().pending.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    thread_local! {
        static STARTED: Cell<usize> = const { Cell::new(0) };
    }

    fn count_start(_: Rc<Deadlines>) {
        STARTED.with(|s| s.set(s.get() + 1));
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(deadline: &mut Deadline, waker: &Waker) -> Poll<()> {
        Pin::new(deadline).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn one_watcher_for_many_deadlines_and_only_expired_ones_fire() {
        STARTED.with(|s| s.set(0));
        let deadlines = Deadlines::new(count_start);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&woken));
        let mut short = deadlines.after(Duration::from_millis(10));
        let mut long = deadlines.after(Duration::from_secs(60));
        assert_eq!(poll(&mut short, &waker), Poll::Pending);
        assert_eq!(poll(&mut long, &waker), Poll::Pending);
        assert_eq!(STARTED.with(Cell::get), 1, "one watcher for both");
        assert!(deadlines.is_watched());
        // The first registration woke its task once, so the spawned watcher gets polled.
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);

        deadlines.fire_expired(Instant::now() + Duration::from_millis(20));
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            2,
            "the short one woke its call"
        );
        assert_eq!(poll(&mut short, &waker), Poll::Ready(()));
        assert_eq!(poll(&mut long, &waker), Poll::Pending);
        assert_eq!(deadlines.next(), Some(long.at));
        drop(short);
        drop(long);
        assert_eq!(deadlines.pending(), 0, "dropped deadlines are forgotten");
    }

    /// Starts the watcher as the components do, as a task of its own (here a tokio local
    /// task, so tests run inside a `LocalSet`).
    fn spawn_watcher(deadlines: Rc<Deadlines>) {
        tokio::task::spawn_local(deadlines.watch(tokio::time::sleep));
    }

    fn run_local<F: Future>(work: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&runtime, work)
    }

    #[test]
    fn the_watcher_fires_each_deadline_in_time_and_stops_when_none_is_left() {
        let deadlines = Deadlines::new(spawn_watcher);
        let (first_at, second_at) = run_local(async {
            let started = Instant::now();
            let first = deadlines.after(Duration::from_millis(50));
            let second = deadlines.after(Duration::from_millis(120));
            first.await;
            let first_at = started.elapsed();
            // The watcher may have stopped meanwhile (nothing was pending): `second`
            // starts another one.
            second.await;
            let second_at = started.elapsed();
            // Let the watcher see that nothing is left.
            tokio::time::sleep(Duration::from_millis(10)).await;
            (first_at, second_at)
        });
        assert!(first_at >= Duration::from_millis(50), "{first_at:?}");
        assert!(second_at >= Duration::from_millis(120), "{second_at:?}");
        assert!(second_at < Duration::from_secs(2), "{second_at:?}");
        assert!(!deadlines.is_watched(), "the watcher gave up its role");
        assert_eq!(deadlines.pending(), 0);
    }

    #[test]
    fn calls_that_finish_first_leave_nothing_behind() {
        let deadlines = Deadlines::new(spawn_watcher);
        run_local(async {
            for _ in 0..100 {
                let deadline = deadlines.after(Duration::from_secs(60));
                let call = tokio::task::yield_now();
                let deadline = std::pin::pin!(deadline);
                match futures_util::future::select(std::pin::pin!(call), deadline).await {
                    futures_util::future::Either::Left(_) => {}
                    futures_util::future::Either::Right(_) => panic!("fired early"),
                }
            }
            assert_eq!(deadlines.pending(), 0);
            assert!(
                deadlines.is_watched(),
                "one watcher, asleep until the first deadline"
            );
        });
    }

    #[test]
    fn a_dropped_watcher_lets_the_next_deadline_start_another() {
        STARTED.with(|s| s.set(0));
        let deadlines = Deadlines::new(count_start);
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut a = deadlines.after(Duration::from_secs(1));
        assert_eq!(poll(&mut a, &waker), Poll::Pending);
        assert_eq!(STARTED.with(Cell::get), 1);
        // The started watcher's task went away before the watcher ever ran.
        drop(Rc::clone(&deadlines).watch(|_| std::future::pending::<()>()));
        assert!(!deadlines.is_watched());
        let mut b = deadlines.after(Duration::from_secs(1));
        assert_eq!(poll(&mut b, &waker), Poll::Pending);
        assert_eq!(
            STARTED.with(Cell::get),
            2,
            "a new watcher for the next deadline"
        );
    }

    #[test]
    fn the_first_sleep_is_measured_from_the_deadlines_own_clock_reading() {
        // Under Spin every clock reading is a host call: the watcher's first sleep reuses
        // the reading `after` took, so it sleeps exactly the call's duration.
        let deadlines = Deadlines::new(|_| {});
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut call = deadlines.after(Duration::from_millis(1500));
        assert_eq!(poll(&mut call, &waker), Poll::Pending);
        std::thread::sleep(Duration::from_millis(5));
        let slept = Rc::new(RefCell::new(Vec::new()));
        let record = Rc::clone(&slept);
        let watcher = Rc::clone(&deadlines).watch(move |d: Duration| {
            record.borrow_mut().push(d);
            std::future::pending::<()>()
        });
        let mut watcher = std::pin::pin!(watcher);
        assert!(
            watcher
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(*slept.borrow(), [Duration::from_millis(1500)]);
        drop(call);
    }

    #[test]
    fn a_watcher_whose_calls_finished_stops_when_its_sleep_ends() {
        let deadlines = Deadlines::new(spawn_watcher);
        run_local(async {
            let deadline = deadlines.after(Duration::from_millis(30));
            let call = tokio::task::yield_now();
            match futures_util::future::select(std::pin::pin!(call), std::pin::pin!(deadline)).await
            {
                futures_util::future::Either::Left(_) => {}
                futures_util::future::Either::Right(_) => panic!("fired early"),
            }
            assert!(deadlines.is_watched(), "asleep until the deadline");
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert!(
                !deadlines.is_watched(),
                "it woke, found nothing, and stopped"
            );
            assert_eq!(deadlines.pending(), 0);
        });
    }

    #[test]
    fn a_shorter_deadline_wakes_a_sleeping_watcher() {
        let deadlines = Deadlines::new(spawn_watcher);
        let took = run_local(async {
            let started = Instant::now();
            let long = deadlines.after(Duration::from_secs(30));
            let mut long = std::pin::pin!(long);
            // Register the long one and let the watcher go to sleep for it.
            futures_util::future::poll_fn(|cx| {
                assert!(long.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            deadlines.after(Duration::from_millis(30)).await;
            started.elapsed()
        });
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
