//! `list.kept`: while no fault has touched a run and its running servers
//! are one tree, a list message reaches every user its sender's server
//! addressed it to.
//!
//! A list message has no answer. The sender's server resolves the nicks
//! it names, refuses those it cannot (LERR to the sender) and sends one
//! copy toward each user it found; nothing comes back. A copy lost on the
//! way is lost without a word to the sender or the recipient, and no
//! other check sees it: room messages have numbers and their gaps,
//! private texts their direct link. After a partition, a cut, a crash or
//! the like, or across a tree split in two, that can be the network; a
//! graceful shutdown, a seamless redirect or a new server must lose none.
//!
//! The sender's server notes whom it addressed (`ListAddressed`); from
//! that note the check owes each of those UIDs a copy, and the
//! recipient's client pays it when the message arrives (`ListReceived`,
//! under the UID the client has then). At the quiet end a copy still
//! owed to a UID some client holds is a violation. One owed to a UID no
//! client holds any more is not judged: that session ended (the user quit
//! or lost its server, and a reconnection is a new UID), and the copy may
//! rightly have had nowhere to go. Copies owed when the run's first fault
//! comes, or when the running servers are seen split, are forgiven (they
//! may have been on their way), and none is owed while the servers are
//! split or were within `relink_grace` + 1 s.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::SimTime;

#[derive(Default)]
pub struct ListChecks {
    /// Copies owed, by the recipient's UID and the text.
    owed: BTreeMap<(Arc<str>, Arc<str>), Owed>,
    /// Copies owed in all, and of those forgiven by a fault or a split.
    pub addressed: u64,
    pub forgiven: u64,
}

struct Owed {
    copies: u32,
    /// The sender's UID and when its server addressed the first copy.
    from: Arc<str>,
    at: SimTime,
}

impl ListChecks {
    /// The sender's server addressed a list message from `from` to the
    /// users `to`; `calm`: no fault has touched the run and the servers
    /// are not split (nor were lately).
    pub fn on_addressed(
        &mut self,
        now: SimTime,
        from: &Arc<str>,
        to: &[Arc<str>],
        text: &Arc<str>,
        calm: bool,
    ) {
        if !calm {
            return;
        }
        for uid in to {
            self.addressed += 1;
            self.owed
                .entry((uid.clone(), text.clone()))
                .or_insert_with(|| Owed {
                    copies: 0,
                    from: from.clone(),
                    at: now,
                })
                .copies += 1;
        }
    }

    /// A copy of `text` reached the client whose user is `uid`.
    pub fn on_received(&mut self, uid: &str, text: &str) {
        let key = (Arc::<str>::from(uid), Arc::<str>::from(text));
        if let Some(o) = self.owed.get_mut(&key) {
            o.copies -= 1;
            if o.copies == 0 {
                self.owed.remove(&key);
            }
        }
    }

    /// A fault, or a split of the servers: every copy on its way may
    /// rightly be lost.
    pub fn forgive_all(&mut self) {
        self.forgiven += self.owed.values().map(|o| u64::from(o.copies)).sum::<u64>();
        self.owed.clear();
    }

    /// The copies still owed to `uid`: (text, copies, sender's UID, when
    /// addressed), in text order.
    pub fn owed_to<'a>(
        &'a self,
        uid: &'a str,
    ) -> impl Iterator<Item = (&'a str, u32, &'a str, SimTime)> + 'a {
        let from: Arc<str> = uid.into();
        self.owed
            .range((from, Arc::<str>::from(""))..)
            .take_while(move |((u, _), _)| **u == *uid)
            .map(|((_, text), o)| (&**text, o.copies, &*o.from, o.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arcs(v: &[&str]) -> Vec<Arc<str>> {
        v.iter().map(|s| Arc::from(*s)).collect()
    }

    /// A copy is owed to each user addressed until it arrives there, and
    /// only while calm; a fault or a split forgives what is on its way.
    #[test]
    fn copies_are_owed_until_received_and_forgiven_by_a_fault() {
        let mut l = ListChecks::default();
        let (from, text) = (Arc::from("0AA-1-1"), Arc::from("hi"));
        l.on_addressed(5, &from, &arcs(&["0AB-1-1", "0AC-1-2"]), &text, true);
        l.on_addressed(6, &from, &arcs(&["0AB-1-1"]), &text, true);
        l.on_addressed(7, &from, &arcs(&["0AD-1-3"]), &text, false);
        let owed: Vec<_> = l.owed_to("0AB-1-1").collect();
        assert_eq!(owed, vec![("hi", 2, "0AA-1-1", 5)]);
        assert_eq!(l.owed_to("0AD-1-3").count(), 0, "not calm: not owed");
        l.on_received("0AB-1-1", "hi");
        assert_eq!(l.owed_to("0AB-1-1").next().map(|o| o.1), Some(1));
        l.on_received("0AB-1-1", "hi");
        l.on_received("0AB-1-1", "hi"); // a copy not owed: ignored
        assert_eq!(l.owed_to("0AB-1-1").count(), 0);
        // A neighbour's UID (a prefix of it) is not its.
        assert_eq!(l.owed_to("0AC-1").count(), 0);
        assert_eq!(l.owed_to("0AC-1-2").count(), 1);
        assert_eq!(l.addressed, 3);
        l.forgive_all();
        assert_eq!(l.owed_to("0AC-1-2").count(), 0, "forgiven");
        assert_eq!(l.forgiven, 1);
    }
}
