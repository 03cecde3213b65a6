//! Reconnection delays and the reconnection loop, as the JS client computes them.

use std::time::{Duration, Instant};

/// A source of uniformly distributed numbers in `[0, 1)`: the jitter of the backoff.
///
/// The runtime feeds it from an OS-seeded generator; tests pass a fixed sequence so delays are
/// deterministic. Any `FnMut() -> f64` is a source.
pub trait RandomSource {
    /// The next number in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

impl<F: FnMut() -> f64> RandomSource for F {
    fn next_unit(&mut self) -> f64 {
        self()
    }
}

/// Exponential backoff with jitter, the JS client's formula (`contrib/backo2`).
///
/// Attempt `n` (counting from 0) waits `min · 2ⁿ`; with jitter `j` and one random draw `r`, the
/// deviation `⌊r · j · d⌋` is subtracted when `⌊10 r⌋` is even and added when it is odd; the
/// result is capped at `max` and truncated to whole milliseconds.
///
/// ```
/// use std::time::Duration;
/// use socketio_client::sans_io::Backoff;
///
/// let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5), 0.5);
/// let mut r = || 0.25; // deviation ⌊0.25·0.5·d⌋, subtracted (⌊2.5⌋ = 2 is even)
/// assert_eq!(b.duration(&mut r), Duration::from_millis(875));
/// assert_eq!(b.duration(&mut r), Duration::from_millis(1750));
/// assert_eq!(b.duration(&mut r), Duration::from_millis(3500));
/// assert_eq!(b.duration(&mut r), Duration::from_millis(5000)); // 8000 - 1000, capped
/// b.reset();
/// assert_eq!(b.attempts(), 0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    min_ms: f64,
    max_ms: f64,
    jitter: f64,
    attempts: u32,
}

impl Backoff {
    /// A backoff from `min` to `max` with the given randomization factor (ignored unless in
    /// `(0, 1]`, as in the JS client).
    #[must_use]
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            min_ms: min.as_millis() as f64,
            max_ms: max.as_millis() as f64,
            jitter: if jitter > 0.0 && jitter <= 1.0 {
                jitter
            } else {
                0.0
            },
            attempts: 0,
        }
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn duration(&mut self, rng: &mut impl RandomSource) -> Duration {
        let exp = i32::try_from(self.attempts).unwrap_or(i32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        let mut ms = self.min_ms * 2f64.powi(exp);
        if self.jitter > 0.0 {
            let r = rng.next_unit().clamp(0.0, 1.0 - f64::EPSILON);
            let deviation = (r * self.jitter * ms).floor();
            ms = if ((r * 10.0).floor() as u64) & 1 == 0 {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        let capped = ms.min(self.max_ms).max(0.0);
        // `capped` is finite and within [0, max]; truncation as JS's `| 0`.
        Duration::from_millis(capped as u64)
    }

    /// Attempts counted since the last reset.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over from `min` (after a successful connection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// Reconnection settings, with the JS client's defaults.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Whether to reconnect at all (`reconnection`, true).
    pub enabled: bool,
    /// Attempts before giving up (`reconnectionAttempts`, `None` = unlimited).
    pub max_attempts: Option<u32>,
    /// First delay (`reconnectionDelay`, 1000 ms).
    pub delay: Duration,
    /// Largest delay (`reconnectionDelayMax`, 5000 ms).
    pub delay_max: Duration,
    /// Jitter (`randomizationFactor`, 0.5).
    pub randomization_factor: f64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: None,
            delay: Duration::from_millis(1000),
            delay_max: Duration::from_millis(5000),
            randomization_factor: 0.5,
        }
    }
}

/// What the reconnection loop decided.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ReconnectStep {
    /// The next attempt starts after `delay` (at [`Reconnector::poll_timeout`]).
    Scheduled {
        /// The wait before the attempt.
        delay: Duration,
    },
    /// `max_attempts` were made: the loop stopped (`reconnect_failed`).
    Failed,
    /// Reconnection is disabled or was stopped: nothing scheduled.
    Stopped,
    /// An attempt is already scheduled or running.
    AlreadyRunning,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum LoopState {
    Idle,
    Waiting { at: Instant },
    Attempting,
}

/// The manager's reconnection loop (the JS `Manager.reconnect`), without timers of its own.
///
/// - After a connection that was open closes: [`Reconnector::connection_lost`] (resets the
///   backoff, then schedules).
/// - After the first connection attempt fails: [`Reconnector::first_attempt_failed`].
/// - When [`Reconnector::poll_timeout`] passes: [`Reconnector::handle_timeout`] returns the
///   attempt number to start (the `reconnect_attempt` event).
/// - That attempt then ends in [`Reconnector::attempt_succeeded`] (returns the attempt count
///   for the `reconnect` event and resets the backoff) or [`Reconnector::attempt_failed`]
///   (schedules the next one).
/// - [`Reconnector::stop`] after an explicit close: nothing is scheduled any more until
///   [`Reconnector::restart`].
#[derive(Clone, Debug)]
pub struct Reconnector {
    config: ReconnectConfig,
    backoff: Backoff,
    state: LoopState,
    stopped: bool,
}

impl Reconnector {
    /// A loop with these settings.
    #[must_use]
    pub fn new(config: ReconnectConfig) -> Self {
        Self {
            backoff: Backoff::new(config.delay, config.delay_max, config.randomization_factor),
            stopped: !config.enabled,
            config,
            state: LoopState::Idle,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// Attempts made since the last success (the backoff counter).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.backoff.attempts()
    }

    /// Whether an attempt is scheduled or running.
    #[must_use]
    pub fn is_reconnecting(&self) -> bool {
        self.state != LoopState::Idle
    }

    /// A connection that was open closed: start over from the first delay.
    pub fn connection_lost(&mut self, now: Instant, rng: &mut impl RandomSource) -> ReconnectStep {
        self.backoff.reset();
        self.state = LoopState::Idle;
        self.schedule(now, rng)
    }

    /// The very first connection attempt failed (the JS `maybeReconnectOnOpen`).
    pub fn first_attempt_failed(
        &mut self,
        now: Instant,
        rng: &mut impl RandomSource,
    ) -> ReconnectStep {
        if self.state != LoopState::Idle || self.backoff.attempts() != 0 {
            return ReconnectStep::AlreadyRunning;
        }
        self.schedule(now, rng)
    }

    /// A reconnection attempt failed: schedules the next one.
    pub fn attempt_failed(&mut self, now: Instant, rng: &mut impl RandomSource) -> ReconnectStep {
        self.state = LoopState::Idle;
        self.schedule(now, rng)
    }

    /// A reconnection attempt succeeded: returns the attempt count and resets the backoff.
    pub fn attempt_succeeded(&mut self) -> u32 {
        let n = self.backoff.attempts();
        self.backoff.reset();
        self.state = LoopState::Idle;
        n
    }

    /// Stops the loop (explicit close): a scheduled attempt is cancelled.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.state = LoopState::Idle;
        self.backoff.reset();
    }

    /// Allows reconnection again after [`Reconnector::stop`] (an explicit reopen).
    pub fn restart(&mut self) {
        self.stopped = !self.config.enabled;
        self.state = LoopState::Idle;
    }

    /// When [`Reconnector::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            LoopState::Waiting { at } => Some(at),
            _ => None,
        }
    }

    /// Time passed: the attempt number to start now, if the delay is over.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<u32> {
        match self.state {
            LoopState::Waiting { at } if now >= at && !self.stopped => {
                self.state = LoopState::Attempting;
                Some(self.backoff.attempts())
            }
            _ => None,
        }
    }

    fn schedule(&mut self, now: Instant, rng: &mut impl RandomSource) -> ReconnectStep {
        if self.stopped {
            return ReconnectStep::Stopped;
        }
        if self.state != LoopState::Idle {
            return ReconnectStep::AlreadyRunning;
        }
        if self
            .config
            .max_attempts
            .is_some_and(|max| self.backoff.attempts() >= max)
        {
            self.backoff.reset();
            return ReconnectStep::Failed;
        }
        let delay = self.backoff.duration(rng);
        self.state = LoopState::Waiting { at: now + delay };
        ReconnectStep::Scheduled { delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(values: &[f64]) -> impl FnMut() -> f64 + '_ {
        let mut i = 0;
        move || {
            let v = values[i % values.len()];
            i += 1;
            v
        }
    }

    #[test]
    fn matches_the_js_formula() {
        // Values computed with the JS client's backo2 for the same random draws.
        let mut b = Backoff::new(
            Duration::from_millis(1000),
            Duration::from_millis(5000),
            0.5,
        );
        // r = 0.15: ⌊1.5⌋ = 1, odd: add ⌊0.15·0.5·1000⌋ = 75.
        assert_eq!(b.duration(&mut || 0.15), Duration::from_millis(1075));
        // r = 0.99: ⌊9.9⌋ = 9, odd: 2000 + ⌊0.99·0.5·2000⌋ = 2990.
        assert_eq!(b.duration(&mut || 0.99), Duration::from_millis(2990));
        // r = 0.0: even, no deviation.
        assert_eq!(b.duration(&mut || 0.0), Duration::from_millis(4000));
        // r = 0.42: ⌊4.2⌋ = 4, even: 8000 - 1680 = 6320, capped at 5000.
        assert_eq!(b.duration(&mut || 0.42), Duration::from_millis(5000));
        assert_eq!(b.attempts(), 4);
    }

    #[test]
    fn without_jitter_doubles_until_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 0.0);
        let got: Vec<u128> = (0..6)
            .map(|_| b.duration(&mut || 0.7).as_millis())
            .collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        // A factor outside (0, 1] is ignored, as in JS.
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 1.5);
        assert_eq!(b.duration(&mut || 0.9), Duration::from_millis(100));
    }

    #[test]
    fn delays_stay_within_bounds_for_any_draw() {
        for i in 0..1000 {
            let r = f64::from(i) / 1000.0;
            let mut b = Backoff::new(
                Duration::from_millis(1000),
                Duration::from_millis(5000),
                0.5,
            );
            for attempt in 0..40 {
                let d = b.duration(&mut || r).as_millis();
                let base = 1000f64 * 2f64.powi(attempt);
                let lo = (base * 0.5).min(5000.0) as u128;
                assert!(d >= lo && d <= 5000, "attempt {attempt} r {r}: {d}");
            }
        }
    }

    #[test]
    fn reconnector_counts_attempts_and_resets_on_success() {
        let t0 = Instant::now();
        let mut r = Reconnector::new(ReconnectConfig::default());
        let mut rng = seq(&[0.0]);
        assert_eq!(
            r.connection_lost(t0, &mut rng),
            ReconnectStep::Scheduled {
                delay: Duration::from_millis(1000)
            }
        );
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(1000)));
        assert_eq!(r.handle_timeout(t0 + Duration::from_millis(999)), None);
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(r.handle_timeout(t1), Some(1));
        assert_eq!(r.handle_timeout(t1), None, "one attempt per delay");
        assert_eq!(
            r.attempt_failed(t1, &mut rng),
            ReconnectStep::Scheduled {
                delay: Duration::from_millis(2000)
            }
        );
        let t2 = t1 + Duration::from_millis(2000);
        assert_eq!(r.handle_timeout(t2), Some(2));
        assert_eq!(r.attempt_succeeded(), 2);
        assert_eq!(r.attempts(), 0);
        assert!(!r.is_reconnecting());
        // The next loss starts over at the first delay.
        assert_eq!(
            r.connection_lost(t2, &mut rng),
            ReconnectStep::Scheduled {
                delay: Duration::from_millis(1000)
            }
        );
    }

    #[test]
    fn reconnector_gives_up_after_max_attempts() {
        let t0 = Instant::now();
        let cfg = ReconnectConfig {
            max_attempts: Some(2),
            randomization_factor: 0.0,
            ..Default::default()
        };
        let mut r = Reconnector::new(cfg);
        let mut rng = seq(&[0.5]);
        let mut now = t0;
        let mut delays = Vec::new();
        let mut step = r.first_attempt_failed(now, &mut rng);
        while let ReconnectStep::Scheduled { delay } = step {
            delays.push(delay.as_millis());
            now += delay;
            assert!(r.handle_timeout(now).is_some());
            step = r.attempt_failed(now, &mut rng);
        }
        assert_eq!(delays, [1000, 2000]);
        assert_eq!(step, ReconnectStep::Failed);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn stop_cancels_and_disabled_never_schedules() {
        let t0 = Instant::now();
        let mut rng = seq(&[0.3]);
        let mut r = Reconnector::new(ReconnectConfig::default());
        assert!(matches!(
            r.connection_lost(t0, &mut rng),
            ReconnectStep::Scheduled { .. }
        ));
        r.stop();
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.handle_timeout(t0 + Duration::from_secs(60)), None);
        assert_eq!(r.connection_lost(t0, &mut rng), ReconnectStep::Stopped);
        r.restart();
        assert!(matches!(
            r.connection_lost(t0, &mut rng),
            ReconnectStep::Scheduled { .. }
        ));

        let cfg = ReconnectConfig {
            enabled: false,
            ..Default::default()
        };
        let mut r = Reconnector::new(cfg);
        assert_eq!(r.first_attempt_failed(t0, &mut rng), ReconnectStep::Stopped);
        r.restart();
        assert_eq!(r.connection_lost(t0, &mut rng), ReconnectStep::Stopped);
    }

    #[test]
    fn first_failure_schedules_only_once() {
        let t0 = Instant::now();
        let mut rng = seq(&[0.3]);
        let mut r = Reconnector::new(ReconnectConfig::default());
        assert!(matches!(
            r.first_attempt_failed(t0, &mut rng),
            ReconnectStep::Scheduled { .. }
        ));
        assert_eq!(
            r.first_attempt_failed(t0, &mut rng),
            ReconnectStep::AlreadyRunning
        );
    }
}
