//! How many acknowledgements one correspondent gets.
//!
//! RFC 3834's headers stop well-behaved robots; the others answer each
//! acknowledgement with a fresh mail (no `Auto-Submitted`, no threading),
//! after fifteen minutes, an hour or a day, sometimes from a new address
//! each time (VERP). Each such mail is a new ticket and, without a bound,
//! a new acknowledgement: a loop at the robot's pace. Three bounds hold
//! whatever the pace:
//!
//! - per sender: `ack.max_per_sender_per_hour` and `…_per_day`;
//! - per domain: `ack.max_per_domain_per_day`, for robots that change
//!   their address (not for the big shared mail providers, whose many
//!   customers are different people: `ack.shared_domains`);
//! - per text: nearly the same words from the same domain (the same
//!   address, at a shared provider) are acknowledged once in
//!   `ack.same_text_days`. Robots repeat themselves; what changes between
//!   their mails is numbers, dates and what they paste of ours, so texts
//!   are compared without digits or punctuation, and by resemblance rather
//!   than equality: MinHash over word triples, in bands (locality-sensitive
//!   hashing), so each text gives a few keys and two texts share a key with
//!   probability ~99% at 90% resemblance, ~9% at 50%, under 0.5% at 30%
//!   (different people's mails resemble each other far less). Short texts
//!   ("Thanks!") are too common to judge and are not compared.
//!
//! The ticket is opened either way; only the acknowledgement is held back,
//! and the outcome says why. All of it is pure: the caller reads the
//! history under [`Keys`] from the store and records an acknowledgement
//! under the same keys.

use crate::config::Ack;
use crate::model::Party;
use crate::store::Acked;
use chrono::{DateTime, Duration, Utc};

/// Fewest words a text needs to be compared with earlier ones.
const MIN_WORDS: usize = 8;
/// Characters of normalized text looked at.
const TEXT_CHARS: usize = 4_000;
/// MinHash bands and rows per band (see the module doc for what they give).
const BANDS: usize = 6;
const ROWS: usize = 6;

/// Where an acknowledgement to one address is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub sender: String,
    /// `@domain`, unless the domain is a shared provider.
    pub domain: Option<String>,
    /// `#text:<domain>:<band>:<hash>` for each band of the text's MinHash,
    /// when it is long enough (the address instead of the domain at a
    /// shared provider).
    pub text: Vec<String>,
}

impl Keys {
    /// An acknowledgement at `at`, counted under every key, each keeping
    /// only the times its bound looks at (a text needs only its latest).
    pub fn record(&self, cfg: &Ack, at: DateTime<Utc>) -> Vec<Acked> {
        let keep_sender = cfg.max_per_sender_per_hour.max(cfg.max_per_sender_per_day) as usize;
        let one = |key: &str, keep: usize| Acked {
            key: key.to_owned(),
            at,
            keep,
        };
        std::iter::once(one(&self.sender, keep_sender))
            .chain(
                self.domain
                    .as_deref()
                    .map(|d| one(d, cfg.max_per_domain_per_day as usize)),
            )
            .chain(self.text.iter().map(|t| one(t, 1)))
            .collect()
    }
}

/// The keys for an acknowledgement to `to` of a mail whose own words
/// (quotes removed) are `own_words`.
pub fn keys(cfg: &Ack, to: &Party, own_words: &str) -> Keys {
    let domain = to
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .unwrap_or_default();
    let shared = cfg
        .shared_domains
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&domain));
    let scope = if shared { &to.address } else { &domain };
    let text = bands(&normalized(own_words))
        .iter()
        .enumerate()
        .map(|(i, b)| format!("#text:{scope}:{i}:{b:016x}"))
        .collect();
    Keys {
        sender: to.address.clone(),
        domain: (!shared && !domain.is_empty()).then(|| format!("@{domain}")),
        text,
    }
}

/// The MinHash of the text's word triples, folded into [`BANDS`] band
/// hashes; none when the text is too short.
fn bands(text: &str) -> Vec<u64> {
    let words: Vec<u64> = text
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(fnv1a)
        .collect();
    if words.len() < MIN_WORDS {
        return Vec::new();
    }
    let mut mins = [u64::MAX; BANDS * ROWS];
    for w in words.windows(3) {
        let shingle = mix(w[0] ^ mix(w[1] ^ mix(w[2])));
        for (i, m) in mins.iter_mut().enumerate() {
            *m = (*m).min(mix(
                shingle ^ SEEDS[i % SEEDS.len()].wrapping_mul(i as u64 + 1)
            ));
        }
    }
    mins.chunks(ROWS)
        .map(|band| band.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| mix(h ^ v)))
        .collect()
}

/// Stable across versions and machines (keys are stored): FNV-1a and the
/// splitmix64 finalizer, not the standard library's hasher.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Letters only, lower case, single spaces, the first [`TEXT_CHARS`]:
/// what stays the same between a robot's mails.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_alphabetic() {
            if space && !out.is_empty() {
                out.push(' ');
                chars += 1;
            }
            space = false;
            out.extend(c.to_lowercase());
            chars += 1;
            if chars >= TEXT_CHARS {
                break;
            }
        } else {
            space = true;
        }
    }
    out
}

/// What was acknowledged before under each key, most recent last (for
/// the text, under any of its keys).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub sender: Vec<DateTime<Utc>>,
    pub domain: Vec<DateTime<Utc>>,
    pub text: Vec<DateTime<Utc>>,
}

impl History {
    /// Reads the history of `keys` with `times` (the store's
    /// `acks_to`).
    pub fn read<E>(
        keys: &Keys,
        mut times: impl FnMut(&str) -> Result<Vec<DateTime<Utc>>, E>,
    ) -> Result<History, E> {
        let mut text = Vec::new();
        for k in &keys.text {
            text.extend(times(k)?);
        }
        Ok(History {
            sender: times(&keys.sender)?,
            domain: match &keys.domain {
                Some(k) => times(k)?,
                None => Vec::new(),
            },
            text,
        })
    }
}

/// Why no acknowledgement may go now, or `None`.
pub fn refusal(cfg: &Ack, keys: &Keys, h: &History, now: DateTime<Utc>) -> Option<String> {
    let since =
        |times: &[DateTime<Utc>], d: Duration| times.iter().filter(|t| **t > now - d).count();
    let hour = since(&h.sender, Duration::hours(1));
    if hour >= cfg.max_per_sender_per_hour as usize {
        return Some(format!(
            "rate limit: {hour} acknowledgements to {} in the last hour",
            keys.sender
        ));
    }
    let day = since(&h.sender, Duration::days(1));
    if day >= cfg.max_per_sender_per_day as usize {
        return Some(format!(
            "rate limit: {day} acknowledgements to {} in the last day",
            keys.sender
        ));
    }
    if let Some(domain) = &keys.domain {
        let day = since(&h.domain, Duration::days(1));
        if day >= cfg.max_per_domain_per_day as usize {
            return Some(format!(
                "rate limit: {day} acknowledgements to addresses {domain} in the last day"
            ));
        }
    }
    if cfg.same_text_days > 0 && !keys.text.is_empty() {
        let window = Duration::days(i64::from(cfg.same_text_days));
        if let Some(last) = h.text.iter().filter(|t| **t > now - window).max() {
            return Some(format!(
                "the same text from this domain was acknowledged at {} (a robot answering our \
                 acknowledgements?)",
                last.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg() -> Ack {
        Ack::default()
    }

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn numbers_quotes_and_punctuation_do_not_make_a_text_new() {
        let a = "Thank you! Your message (ref. 48213) was received on 2026-11-23 \
                 and will be answered within 2 days.";
        let b = "Thank you. Your message [ref 48999] was received on 2026-11-24, \
                 and will be answered within 3 days!";
        let robot = Party::new(None, "robot@bot.example");
        assert_eq!(keys(&cfg(), &robot, a).text, keys(&cfg(), &robot, b).text);
        assert_eq!(keys(&cfg(), &robot, a).text.len(), BANDS);
        let other = "We are closed for the holidays and read mail again in January.";
        assert!(!shares(
            &keys(&cfg(), &robot, a),
            &keys(&cfg(), &robot, other)
        ));
        // Same words from another domain are other keys.
        let elsewhere = Party::new(None, "robot@other.example");
        assert!(!shares(
            &keys(&cfg(), &robot, a),
            &keys(&cfg(), &elsewhere, a)
        ));
        // Too short to judge.
        assert!(keys(&cfg(), &robot, "Thanks!").text.is_empty());
        // Hebrew and Polish letters count as letters.
        assert!(normalized("שלום, 123 zażółć").contains("שלום zażółć"));
    }

    fn shares(a: &Keys, b: &Keys) -> bool {
        a.text.iter().any(|k| b.text.contains(k))
    }

    /// A long text with a few words changed is recognised; different
    /// people's mail about the same thing is not.
    #[test]
    fn resemblance_not_equality() {
        let robot = Party::new(None, "robot@bot.example");
        let base = "Hello, thank you for writing to us. Your request is now ticket number                     and we will answer it by Monday, 23 November, 17:00 at the latest.                     Please keep the number in the subject when you write again, so that                     your mail reaches the same person. Kind regards, the support team";
        let next_day = base.replace("Monday, 23 November", "Tuesday, 24 November");
        assert!(shares(
            &keys(&cfg(), &robot, base),
            &keys(&cfg(), &robot, &next_day)
        ));
        let mut false_matches = 0;
        let people = [
            "My order arrived broken yesterday, the box was wet and the lamp inside is cracked",
            "Could you change the delivery address for my order to my office in Haifa please",
            "I was charged twice for the same subscription this month, please refund one of them",
            "The app crashes every time I open the settings page on my phone since the update",
            "Dzień dobry, chciałbym zwrócić buty, które zamówiłem w zeszłym tygodniu, są za małe",
            "שלום, ההזמנה שלי לא הגיעה עדיין למרות שעברו כבר שבועיים מאז התשלום באתר שלכם",
        ];
        for (i, a) in people.iter().enumerate() {
            for b in &people[i + 1..] {
                let p = Party::new(None, "someone@acme.example");
                false_matches += usize::from(shares(&keys(&cfg(), &p, a), &keys(&cfg(), &p, b)));
            }
        }
        assert_eq!(false_matches, 0);
    }

    #[test]
    fn shared_providers_have_no_domain_bound() {
        let gmail = Party::new(None, "someone@gmail.com");
        assert_eq!(keys(&cfg(), &gmail, "").domain, None);
        let bot = Party::new(None, "b-1234@bot.example");
        assert_eq!(
            keys(&cfg(), &bot, "").domain.as_deref(),
            Some("@bot.example")
        );
    }

    #[test]
    fn each_bound_refuses_with_its_reason() {
        let c = cfg();
        let k = keys(
            &c,
            &Party::new(None, "r@bot.example"),
            "This mailbox is not monitored, please use our web form instead.",
        );
        let none = History::default();
        assert_eq!(refusal(&c, &k, &none, t(0)), None);
        let hourly = History {
            sender: (0..5).map(|m| t(0) + Duration::minutes(m * 10)).collect(),
            ..History::default()
        };
        let why = refusal(&c, &k, &hourly, t(1) - Duration::minutes(1)).unwrap();
        assert!(why.contains("in the last hour"), "{why}");
        let daily = History {
            sender: (0..10).map(|h| t(h * 2)).collect(),
            ..History::default()
        };
        let why = refusal(&c, &k, &daily, t(20)).unwrap();
        assert!(why.contains("in the last day"), "{why}");
        assert_eq!(refusal(&c, &k, &daily, t(44)), None, "a day later");
        let domain = History {
            domain: (0..100).map(|m| t(0) + Duration::minutes(m)).collect(),
            ..History::default()
        };
        let why = refusal(&c, &k, &domain, t(2)).unwrap();
        assert!(why.contains("@bot.example"), "{why}");
        let text = History {
            text: vec![t(0)],
            ..History::default()
        };
        let why = refusal(&c, &k, &text, t(24 * 29)).unwrap();
        assert!(why.contains("same text"), "{why}");
        assert_eq!(refusal(&c, &k, &text, t(24 * 31)), None, "after the window");
    }
}
