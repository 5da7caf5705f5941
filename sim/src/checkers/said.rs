//! `send.settled` and `private.settled`.
//!
//! `send.settled`: every room message a user says ends one of two ways by
//! a quiet end: the room's sequencer takes it into the stream (a
//! `Sequenced` note for a number its client was given for it), or its
//! client tells the user it failed (`SendFailed`). One that is neither is
//! a message lost without a word, which no other check sees: the order
//! checks judge the numbers that exist, and a message that never got one,
//! or whose number was skipped, leaves nothing for them.
//!
//! What the user said is taken from the scenario (the `say` actions the
//! world hands out), not from the client: a client refuses a message at
//! once (`SendFailed` with no count: not connected, not a member) or
//! queues it under the next of its counts, 1, 2, 3, ... for the client's
//! life (the `k` of `Sent` and `SendFailed`). So the messages queued are
//! exactly the counts up to the number of says less the refusals, and
//! each settles when its count does.
//!
//! `private.settled`: every private message a user sends leaves on an
//! open direct link (`PrivateSent`) or is told failed (`PrivateFailed`,
//! not a list message's), once: texts have no count, so the two notes are
//! counted against the `private` actions.

use std::collections::BTreeMap;

use crate::network::HostId;

#[derive(Default)]
pub struct SaidChecks {
    /// By host id: looked up once for each message said and each one
    /// numbered, where a B-tree's search was most of the cost.
    by_client: Vec<Said>,
    /// Room names by a small number, for what each client queued.
    room_ids: BTreeMap<String, u32>,
    room_names: Vec<String>,
}

#[derive(Default)]
struct Said {
    /// `say` actions handed to the client.
    said: u64,
    /// Those it refused as they were said.
    refused_at_once: u64,
    /// Bit `k`: message `k` settled (taken into a stream, or refused).
    settled: Vec<u64>,
    settled_count: u64,
    /// The room of each `say` not refused at once: of message `k` at
    /// `k - 1` (a refusal at once comes in the same step as its say, so
    /// it takes back the last one).
    rooms: Vec<u32>,
    /// `private` actions handed to the client, and their ends noted.
    private: u64,
    private_ended: u64,
}

impl SaidChecks {
    fn of(&mut self, h: HostId) -> &mut Said {
        if self.by_client.len() <= h as usize {
            self.by_client.resize_with(h as usize + 1, Said::default);
        }
        &mut self.by_client[h as usize]
    }

    /// A `say` action for `room` reached client `h`.
    pub fn on_say(&mut self, h: HostId, room: &str) {
        // Looked up before it is named: an entry needs an owned key, a
        // string made and freed for every message said.
        let id = match self.room_ids.get(room) {
            Some(&id) => id,
            None => {
                let id = self.room_names.len() as u32;
                self.room_ids.insert(room.to_string(), id);
                self.room_names.push(room.to_string());
                id
            }
        };
        let s = self.of(h);
        s.said += 1;
        s.rooms.push(id);
    }

    /// Client `h` told its user a message failed: message `k`, or (none)
    /// one refused as it was said.
    pub fn on_failed(&mut self, h: HostId, k: Option<u64>) {
        match k {
            Some(k) => {
                self.settle(h, k);
            }
            None => {
                let s = self.of(h);
                s.refused_at_once += 1;
                s.rooms.pop();
            }
        }
    }

    /// Message `k` of client `h` settled. A message settles once however
    /// many copies its retries had numbered: true the first time.
    pub fn settle(&mut self, h: HostId, k: u64) -> bool {
        let s = self.of(h);
        let (word, bit) = ((k / 64) as usize, k % 64);
        if s.settled.len() <= word {
            s.settled.resize(word + 1, 0);
        }
        let first = s.settled[word] & (1 << bit) == 0;
        if first {
            s.settled[word] |= 1 << bit;
            s.settled_count += 1;
        }
        first
    }

    /// A `private` action reached client `h`.
    pub fn on_private(&mut self, h: HostId) {
        self.of(h).private += 1;
    }

    /// Client `h` noted a private text sent or failed.
    pub fn private_ended(&mut self, h: HostId) {
        self.of(h).private_ended += 1;
    }

    /// Client `h`'s private texts not ended (negative: ended more often
    /// than sent).
    pub fn private_open(&self, h: HostId) -> i64 {
        self.by_client
            .get(h as usize)
            .map_or(0, |s| s.private as i64 - s.private_ended as i64)
    }

    /// The counts of client `h`'s queued messages that have not settled,
    /// with their rooms, at most `limit` of them, and how many there are
    /// in all.
    pub fn unsettled(&self, h: HostId, limit: usize) -> (Vec<(u64, &str)>, u64) {
        let Some(s) = self.by_client.get(h as usize) else {
            return (Vec::new(), 0);
        };
        let queued = s.said.saturating_sub(s.refused_at_once);
        let open = queued.saturating_sub(s.settled_count);
        if open == 0 {
            return (Vec::new(), 0);
        }
        let first = (1..=queued)
            .filter(|&k| {
                let (word, bit) = ((k / 64) as usize, k % 64);
                s.settled.get(word).is_none_or(|w| w & (1 << bit) == 0)
            })
            .take(limit)
            .map(|k| {
                let room = s
                    .rooms
                    .get(k as usize - 1)
                    .map_or("?", |&r| self.room_names[r as usize].as_str());
                (k, room)
            })
            .collect();
        (first, open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_owes_the_messages_it_queued_until_each_settles_once() {
        let mut s = SaidChecks::default();
        for room in ["#a", "#b"] {
            s.on_say(7, room);
        }
        // The next say is refused at once (its refusal comes with it); the
        // others are 1..=4.
        s.on_say(7, "#gone");
        s.on_failed(7, None);
        for room in ["#a", "#c"] {
            s.on_say(7, room);
        }
        let ks = |v: Vec<(u64, &str)>| {
            v.iter()
                .map(|&(k, r)| format!("{k}{r}"))
                .collect::<Vec<_>>()
        };
        let (first, open) = s.unsettled(7, 10);
        assert_eq!(
            (ks(first), open),
            (
                vec!["1#a".into(), "2#b".into(), "3#a".into(), "4#c".into()],
                4
            )
        );
        s.settle(7, 2);
        s.settle(7, 2);
        s.on_failed(7, Some(4));
        let (first, open) = s.unsettled(7, 10);
        assert_eq!(
            (ks(first), open),
            (vec!["1#a".to_string(), "3#a".into()], 2)
        );
        assert_eq!(s.unsettled(7, 1).1, 2);
        assert_eq!(s.unsettled(7, 1).0.len(), 1);
        s.settle(7, 1);
        s.settle(7, 3);
        assert_eq!(s.unsettled(7, 10), (vec![], 0));
        // Another client is apart; one that said nothing owes nothing.
        s.on_say(8, "#a");
        assert_eq!(s.unsettled(8, 10), (vec![(1, "#a")], 1));
        assert_eq!(s.unsettled(9, 10), (vec![], 0));
        // Counts past the first word of bits.
        for _ in 0..200 {
            s.on_say(9, "#big");
        }
        for k in 1..=200 {
            if k != 130 {
                s.settle(9, k);
            }
        }
        assert_eq!(s.unsettled(9, 10), (vec![(130, "#big")], 1));
    }

    #[test]
    fn private_texts_are_owed_until_each_ends_and_an_extra_end_shows() {
        let mut s = SaidChecks::default();
        assert_eq!(s.private_open(3), 0);
        s.on_private(3);
        s.on_private(3);
        s.private_ended(3);
        assert_eq!(s.private_open(3), 1);
        s.private_ended(3);
        assert_eq!(s.private_open(3), 0);
        s.private_ended(3);
        assert_eq!(s.private_open(3), -1);
    }
}
