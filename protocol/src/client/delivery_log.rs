//! What a client delivered in one room, kept for whoever looks at the
//! client afterwards (the simulator's end checks and its summary); the
//! client itself never reads it.
//!
//! The numbers are always kept, as runs: within a stream a client
//! delivers the numbers in order, one after the other but for the few it
//! passes over, so a room's whole history is a run or two per stream
//! however many messages it held. The messages themselves are kept only
//! when [`super::ClientConfig::keep_log`] asks: at 250,000 users they
//! were about half of what a minute of chat added to the heap.

use crate::outbox::Stream;
use crate::room_text::RoomText;

/// Numbers `first..=last` of `stream`, delivered one after the other.
#[derive(Clone, Debug)]
struct Run {
    stream: Stream,
    first: u64,
    last: u64,
}

#[derive(Clone, Debug, Default)]
pub struct DeliveryLog {
    runs: Vec<Run>,
    /// The messages in delivery order, one per number in the runs, when
    /// kept.
    msgs: Vec<RoomText>,
    keep_msgs: bool,
}

impl DeliveryLog {
    pub(crate) fn new(keep_msgs: bool) -> Self {
        DeliveryLog {
            keep_msgs,
            ..Default::default()
        }
    }

    /// Inline: every delivery calls it, and without the hint whether it
    /// was inlined moved with unrelated changes (the crate is compiled in
    /// four units), about 45 instructions a delivery.
    #[inline]
    pub(crate) fn push(&mut self, stream: &Stream, n: u64, msg: &RoomText) {
        if self.keep_msgs {
            self.msgs.push(msg.clone());
        }
        if let Some(r) = self.runs.last_mut() {
            if r.last.checked_add(1) == Some(n) && r.stream == *stream {
                r.last = n;
                return;
            }
        }
        self.runs.push(Run {
            stream: stream.clone(),
            first: n,
            last: n,
        });
    }

    /// How many messages were delivered.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(|r| r.last - r.first + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Whether [`Self::messages`] has them (see the module's doc).
    pub fn keeps_messages(&self) -> bool {
        self.keep_msgs
    }

    /// The delivered numbers as runs `(stream, first, last)`, `last`
    /// included, in delivery order.
    pub fn runs(&self) -> impl Iterator<Item = (&Stream, u64, u64)> {
        self.runs.iter().map(|r| (&r.stream, r.first, r.last))
    }

    /// Every delivered number with its stream, in delivery order.
    pub fn numbers(&self) -> impl Iterator<Item = (&Stream, u64)> {
        self.runs
            .iter()
            .flat_map(|r| (r.first..=r.last).map(move |n| (&r.stream, n)))
    }

    /// Every delivered message with its stream and number, in delivery
    /// order; nothing unless the messages are kept.
    pub fn messages(&self) -> impl Iterator<Item = (&Stream, u64, &RoomText)> {
        self.numbers()
            .zip(&self.msgs)
            .map(|((stream, n), msg)| (stream, n, msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(epoch: u64, seq: &str) -> Stream {
        Stream {
            epoch,
            seq: seq.into(),
        }
    }

    fn msg(text: &str) -> RoomText {
        RoomText::new("A-1-1", "alice", "A-1-1/1", text)
    }

    /// Consecutive numbers of one stream share a run; a number passed
    /// over, a new stream, or a return to an older one start another, and
    /// every number and message comes back in delivery order.
    #[test]
    fn runs_follow_the_deliveries_and_give_every_number_back() {
        let (a, b) = (stream(1, "A"), stream(2, "B"));
        let mut log = DeliveryLog::new(true);
        assert!(log.is_empty() && log.keeps_messages());
        let delivered = [
            (&a, 1),
            (&a, 2),
            (&a, 3),
            (&a, 5),
            (&b, 6),
            (&b, 7),
            (&a, 6),
        ];
        for (i, (s, n)) in delivered.iter().enumerate() {
            log.push(s, *n, &msg(&i.to_string()));
        }
        let runs: Vec<(u64, u64, u64)> = log.runs().map(|(s, f, l)| (s.epoch, f, l)).collect();
        assert_eq!(runs, [(1, 1, 3), (1, 5, 5), (2, 6, 7), (1, 6, 6)]);
        let numbers: Vec<(u64, u64)> = log.numbers().map(|(s, n)| (s.epoch, n)).collect();
        let expected: Vec<(u64, u64)> = delivered.iter().map(|(s, n)| (s.epoch, *n)).collect();
        assert_eq!(numbers, expected);
        let texts: Vec<(u64, String)> = log
            .messages()
            .map(|(_, n, m)| (n, m.text().into()))
            .collect();
        let expected: Vec<(u64, String)> = delivered
            .iter()
            .enumerate()
            .map(|(i, (_, n))| (*n, i.to_string()))
            .collect();
        assert_eq!(texts, expected);
        assert_eq!(log.len(), 7);
        assert!(!log.is_empty());
    }

    /// Without the messages the numbers are still all there.
    #[test]
    fn without_the_messages_the_numbers_stay() {
        let a = stream(1, "A");
        let mut log = DeliveryLog::new(false);
        for n in 1..=1000 {
            log.push(&a, n, &msg("x"));
        }
        assert_eq!(
            (log.len(), log.runs().count(), log.messages().count()),
            (1000, 1, 0)
        );
        assert_eq!(log.numbers().map(|(_, n)| n).sum::<u64>(), 500_500);
        assert!(!log.keeps_messages());
    }
}
