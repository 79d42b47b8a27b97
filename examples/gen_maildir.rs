//! Writes a Maildir of N varied messages for measuring intake: customers in
//! English, Polish and Hebrew, new requests and replies into their threads,
//! plain text and HTML, a few automatic replies.
//!
//! `cargo run --release --example gen_maildir -- DIR N`

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: gen_maildir DIR N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let dir = std::path::Path::new(&dir);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("maildir");
    }
    let bodies = [
        (
            "en",
            "Printer on floor 3 does not print",
            "Hello,\n\nthe printer on the third floor stopped printing this morning. It shows a paper jam but there is no paper stuck inside. Could you please send someone to look at it?\n\nThanks,\n",
        ),
        (
            "pl",
            "Faktura za listopad",
            "Dzień dobry,\n\nw fakturze za listopad jest błędna kwota: zamiast 120 zł naliczono 210 zł. Proszę o korektę i przesłanie nowej faktury.\n\nPozdrawiam,\n",
        ),
        (
            "he",
            "בעיה בהתחברות לחשבון",
            "שלום,\n\nאני לא מצליחה להתחבר לחשבון שלי מאז אתמול. הסיסמה לא מתקבלת למרות שאיפסתי אותה פעמיים. אשמח לעזרה בהקדם.\n\nתודה,\n",
        ),
    ];
    for i in 0..n {
        let (lang, subject, body) = bodies[i % 3];
        let customer = i / 4; // four messages per customer
        let from = format!(
            "Customer {customer} <customer{customer}@c{}.example>",
            customer
        );
        let thread = i % 4; // first opens, the next three reply
        let id = format!("<m{i}@c{}.example>", customer);
        let root = format!("<m{}@c{}.example>", i - thread, customer);
        let mut head = format!(
            "From: {from}\r\nTo: support@example.com\r\nDate: Mon, 23 Nov 2026 09:{:02}:00 +0100\r\nMessage-ID: {id}\r\nContent-Language: {lang}\r\n",
            i % 60
        );
        let subject = if thread == 0 {
            subject.to_owned()
        } else {
            head.push_str(&format!("In-Reply-To: {root}\r\nReferences: {root}\r\n"));
            format!("Re: {subject}")
        };
        if i % 50 == 49 {
            head.push_str("Auto-Submitted: auto-replied\r\n");
        }
        head.push_str(&format!("Subject: {subject}\r\nMIME-Version: 1.0\r\n"));
        let text =
            format!("{body}Customer {customer}\n\n> earlier text quoted\n> by the mail client\n");
        let mail = if i % 5 == 0 {
            let html = text.replace('\n', "<br>\n");
            format!(
                "{head}Content-Type: multipart/alternative; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>{html}</body></html>\r\n--b{i}--\r\n"
            )
        } else {
            format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{text}")
        };
        let name = format!("{}.M{i}P1.gen", 1_795_800_000 + i);
        let mut f = std::fs::File::create(dir.join("new").join(name)).expect("file");
        f.write_all(mail.as_bytes()).expect("write");
    }
}
