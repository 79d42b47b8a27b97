//! Threading through the whole pipeline, in every order of arrival: mail
//! comes late, early and twice, and a thread must still end as one ticket
//! whose messages' own Message-IDs lead to it.

use super::tests::{mail, setup, t0};
use super::*;
use crate::store::View;
use crate::thread::ThreadView;

/// One message of a small thread: (author, own id, subject, headers).
type Msg = (&'static str, &'static str, &'static str, &'static str);

/// Every ordering of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// Feeds `thread` in every order; each must end in one ticket that holds
/// every message, with each message's own id leading to it.
fn one_ticket_in_every_order(thread: &[Msg]) {
    for order in permutations(thread.len()) {
        let s = setup(|_| {});
        for (step, &i) in order.iter().enumerate() {
            let (from, id, subject, headers) = thread[i];
            let o = s.process(
                &mail(from, id, subject, headers, "text"),
                t0() + Duration::minutes(step as i64),
            );
            assert!(o.ticket.is_some(), "order {order:?}: {id}: {o:?}");
        }
        let tickets = s.store.tickets().unwrap();
        assert_eq!(
            tickets.len(),
            1,
            "order {order:?}: {:?}",
            tickets
                .iter()
                .map(|t| (t.id, &t.messages))
                .collect::<Vec<_>>()
        );
        for (_, id, _, _) in thread {
            assert_eq!(
                s.store.ticket_for_message_id(id).unwrap(),
                Some(tickets[0].id),
                "order {order:?}: <{id}>"
            );
            assert!(tickets[0].messages.iter().any(|m| m == id), "{order:?}");
        }
    }
}

#[test]
fn a_colleagues_reply_all_before_the_original() {
    // Alice writes to support and Bob; Bob answers everyone from a client
    // whose In-Reply-To names a message we never got (Alice's copy to him
    // went through a list), pointing at the original only in References.
    one_ticket_in_every_order(&[
        (
            "Alice <alice@cust.example>",
            "orig@cust.example",
            "Printer jammed",
            "Cc: bob@cust.example\r\n",
        ),
        (
            "Bob <bob@cust.example>",
            "bob1@cust.example",
            "RE: Printer jammed",
            "In-Reply-To: <never-seen@list.example>\r\nReferences: <orig@cust.example> <never-seen@list.example>\r\n",
        ),
        (
            "Alice <alice@cust.example>",
            "alice2@cust.example",
            "Re: Printer jammed",
            "In-Reply-To: <bob1@cust.example>\r\nReferences: <orig@cust.example> <never-seen@list.example> <bob1@cust.example>\r\n",
        ),
    ]);
}

#[test]
fn a_plain_chain_in_every_order() {
    one_ticket_in_every_order(&[
        ("ann@c.example", "a1@c", "Broken", ""),
        (
            "ann@c.example",
            "a2@c",
            "Re: Broken",
            "In-Reply-To: <a1@c>\r\nReferences: <a1@c>\r\n",
        ),
        (
            "carl@c.example",
            "c3@c",
            "Re: Broken",
            "In-Reply-To: <a2@c>\r\nReferences: <a1@c> <a2@c>\r\n",
        ),
    ]);
}

#[test]
fn replies_whose_in_reply_to_is_unknown_meet_the_original() {
    // Both replies name only a middle message we never receive; the
    // original reaches them through References alone.
    one_ticket_in_every_order(&[
        ("ann@c.example", "root@c", "Invoice 7", ""),
        (
            "dan@d.example",
            "d1@d",
            "Re: Invoice 7",
            "In-Reply-To: <lost@c>\r\nReferences: <root@c> <lost@c>\r\n",
        ),
        (
            "eve@e.example",
            "e1@e",
            "Re: Invoice 7",
            "In-Reply-To: <lost2@d>\r\nReferences: <root@c> <lost2@d>\r\n",
        ),
    ]);
}

#[test]
fn a_message_placed_elsewhere_takes_its_own_id_along() {
    // A stranger's reply referencing Ann's future message makes the index
    // point that id at the stranger's ticket; when Ann's message arrives
    // with her own ticket's tag, its own id must lead to where it is.
    let s = setup(|_| {});
    s.process(&mail("ann@c.example", "a1@c", "Broken", "", "x"), t0());
    let tag = s.engine.threading.tags.format(1000);
    s.process(
        &mail(
            "zed@z.example",
            "z1@z",
            "Hello",
            "References: <a2@c>\r\n",
            "x",
        ),
        t0(),
    );
    assert_eq!(s.store.ticket_for_message_id("a2@c").unwrap(), Some(1001));
    let o = s.process(
        &mail(
            "ann@c.example",
            "a2@c",
            &format!("Re: {tag} Broken"),
            "",
            "y",
        ),
        t0(),
    );
    assert_eq!(o.ticket, Some(1000), "{o:?}");
    assert_eq!(s.store.ticket_for_message_id("a2@c").unwrap(), Some(1000));
}
