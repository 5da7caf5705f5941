//! Datagrams: the discovery multicast group and unicast, UDP-like.
//!
//! Unlike a connection, a datagram keeps no order and no promise. Each copy
//! draws its own latency from `[network] latency` (so two sent in a row may
//! arrive swapped), may be lost, and may arrive twice; a partition at its
//! arrival drops it (nothing retransmits a datagram), and so does a
//! receiver that is down. Every draw comes from the run's `datagrams`
//! stream, which nothing else uses: a scenario without `[discovery]` never
//! draws from it, so its timing is what it was before datagrams existed.

use rand_chacha::ChaCha8Rng;

use super::HostId;
use crate::clock::SimTime;
use crate::rng;

/// One copy on its way to one host.
#[derive(Debug)]
pub struct InFlight {
    pub from: HostId,
    pub to: HostId,
    pub bytes: Vec<u8>,
}

/// Loss and duplication as probabilities in parts per million, so that
/// draws are integer comparisons and the same on every machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Odds {
    pub loss_ppm: u32,
    pub duplicate_ppm: u32,
}

impl Odds {
    pub fn from_probabilities(loss: f64, duplicate: f64) -> Self {
        let ppm = |p: f64| (p.clamp(0.0, 1.0) * 1e6).round() as u32;
        Odds {
            loss_ppm: ppm(loss),
            duplicate_ppm: ppm(duplicate),
        }
    }
}

/// What became of one copy handed to [`Datagrams::send`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    pub lost: bool,
    pub duplicated: bool,
}

/// Counters for `stats.discovery`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DatagramStats {
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delivered: u64,
}

pub struct Datagrams {
    rng: ChaCha8Rng,
    latency: (u64, u64),
    pub odds: Odds,
    /// A storm replaces `odds` until this time.
    pub storm: Option<(SimTime, Odds)>,
    /// Slots of copies in flight; an event names its slot.
    slots: Vec<Option<InFlight>>,
    free: Vec<u32>,
    pub stats: DatagramStats,
}

impl Datagrams {
    pub fn new(seed: u64, latency: (u64, u64), odds: Odds) -> Self {
        Datagrams {
            rng: rng::stream(seed, "datagrams"),
            latency,
            odds,
            storm: None,
            slots: Vec::new(),
            free: Vec::new(),
            stats: DatagramStats::default(),
        }
    }

    /// The odds in force at `now`.
    pub fn odds_at(&self, now: SimTime) -> Odds {
        match self.storm {
            Some((until, o)) if now < until => o,
            _ => self.odds,
        }
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && rng::between(&mut self.rng, 0, 999_999) < u64::from(ppm)
    }

    /// Sends one copy from `from` to `to`: draws its fate and, for each
    /// copy that survives, a latency. Returns the slots and due times to
    /// schedule.
    pub fn send(
        &mut self,
        now: SimTime,
        from: HostId,
        to: HostId,
        bytes: &[u8],
    ) -> (Fate, Vec<(u32, SimTime)>) {
        self.stats.sent += 1;
        let odds = self.odds_at(now);
        let mut fate = Fate::default();
        if self.chance(odds.loss_ppm) {
            self.stats.lost += 1;
            fate.lost = true;
            return (fate, Vec::new());
        }
        let copies = if self.chance(odds.duplicate_ppm) {
            self.stats.duplicated += 1;
            fate.duplicated = true;
            2
        } else {
            1
        };
        let mut due = Vec::with_capacity(copies);
        for _ in 0..copies {
            let lat = rng::between(&mut self.rng, self.latency.0, self.latency.1);
            let d = InFlight {
                from,
                to,
                bytes: bytes.to_vec(),
            };
            let slot = match self.free.pop() {
                Some(s) => {
                    self.slots[s as usize] = Some(d);
                    s
                }
                None => {
                    self.slots.push(Some(d));
                    (self.slots.len() - 1) as u32
                }
            };
            due.push((slot, now + lat));
        }
        (fate, due)
    }

    /// Takes the copy out of its slot when its event fires.
    pub fn take(&mut self, slot: u32) -> Option<InFlight> {
        let d = self.slots.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_duplication_follow_their_odds() {
        let odds = Odds::from_probabilities(0.3, 0.1);
        let mut d = Datagrams::new(1, (1_000, 20_000_000), odds);
        let n = 20_000;
        let mut arrivals = Vec::new();
        for i in 0..n {
            let (_, due) = d.send(i, 0, 1, b"<HELLO>");
            for (slot, t) in due {
                arrivals.push(t);
                assert!(d.take(slot).is_some());
            }
        }
        let lost = d.stats.lost as f64 / n as f64;
        let dup = d.stats.duplicated as f64 / (n - d.stats.lost) as f64;
        assert!((0.28..0.32).contains(&lost), "lost {lost}");
        assert!((0.08..0.12).contains(&dup), "duplicated {dup}");
        // Sent one nanosecond apart with latencies in milliseconds: they
        // arrive out of order.
        assert!(arrivals.windows(2).any(|w| w[1] < w[0]));
        // Slots are reused: nothing was left in flight.
        assert!(d.slots.len() <= 2);
    }

    #[test]
    fn a_storm_overrides_the_odds_until_it_ends() {
        let mut d = Datagrams::new(1, (1, 1), Odds::default());
        d.storm = Some((100, Odds::from_probabilities(1.0, 0.0)));
        assert!(d.send(50, 0, 1, b"x").0.lost);
        assert!(!d.send(100, 0, 1, b"x").0.lost);
    }
}
