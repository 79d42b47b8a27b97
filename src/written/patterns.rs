//! The words mail clients write around a person's text, per language: quote
//! headers ("On … wrote:"), Outlook's header blocks, forward markers, device
//! footers. One table per kind; a new language adds its words here.
//!
//! Sources: the clients themselves (Gmail, Outlook desktop/web/mobile,
//! Thunderbird, Apple Mail, Samsung Email, K-9) in English, Polish and
//! Hebrew, and the languages of the reply corpora we test on.

use regex::Regex;
use std::sync::LazyLock;

/// Verbs that end a quote header ("… wrote:"), lower case. Gmail's Polish
/// "napisał(a):", Hebrew "כתב/ה:", and Outlook mobile's forms included.
pub const WROTE: &[&str] = &[
    // en
    "wrote",
    "writes",
    "said",
    // pl
    "napisał(a)",
    "napisał",
    "napisała",
    "pisze",
    "napisali",
    // he
    "כתב",
    "כתבה",
    "כתב/ה",
    "כתב(ה)",
    // de, fr, es, it, pt, nl, sv, no/da, fi, ru, uk, cs, zh
    "schrieb",
    "a écrit",
    "escribió",
    "ha scritto",
    "scrisse",
    "escreveu",
    "schreef",
    "het volgende geschreven",
    "geschreven",
    "пише",
    "пишет",
    "skrev",
    "kirjoitti",
    "написал(а)",
    "написал",
    "написала",
    "написав(ла)",
    "написав",
    "написала",
    "napsal(a)",
    "napsal",
    "写道",
];

/// Header-block field names, lower case: the first of a block ("From:") and
/// the others ("Sent:", "To:", "Subject:"), as Outlook and Yahoo write them.
pub const FROM_FIELDS: &[&str] = &[
    "from",
    "od",
    "מאת",
    "von",
    "de",
    "van",
    "da",
    "från",
    "fra",
    "от",
    "від",
    "发件人",
    "lähettäjä",
    "odesílatel",
];
pub const OTHER_FIELDS: &[&str] = &[
    // en
    "sent",
    "date",
    "to",
    "subject",
    "cc",
    "reply-to",
    // pl
    "wysłano",
    "wysłane",
    "data",
    "do",
    "temat",
    "dw",
    "kopia",
    // he
    "נשלח",
    "תאריך",
    "אל",
    "נושא",
    "עותק",
    // de
    "gesendet",
    "datum",
    "an",
    "betreff",
    "kopie",
    // fr
    "envoyé",
    "à",
    "objet",
    // es, pt, it
    "enviado",
    "enviada",
    "fecha",
    "para",
    "asunto",
    "assunto",
    "inviato",
    "a",
    "oggetto",
    // nl, sv, no/da, fi, ru, uk, zh, cs
    "verzonden",
    "aan",
    "onderwerp",
    "skickat",
    "till",
    "ämne",
    "sendt",
    "til",
    "emne",
    "lähetetty",
    "vastaanottaja",
    "aihe",
    "отправлено",
    "дата",
    "кому",
    "тема",
    "надіслано",
    "发送时间",
    "收件人",
    "主题",
    "odesláno",
    "komu",
    "předmět",
];

/// Subject fields of a header block.
pub const SUBJECT_FIELDS: &[&str] = &[
    "subject",
    "temat",
    "נושא",
    "betreff",
    "objet",
    "asunto",
    "assunto",
    "oggetto",
    "onderwerp",
    "ämne",
    "emne",
    "aihe",
    "тема",
    "主题",
    "předmět",
];

/// A separator line before an embedded original ("-----Original Message-----").
pub static ORIGINAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*[-_=*]{2,}\s*(original message|ursprüngliche nachricht|wiadomość oryginalna|oryginalna wiadomość|oryginalna wiadomosc|הודעה מקורית|message d'origine|mensaje original|mensagem original|messaggio originale|oorspronkelijk bericht|ursprungligt meddelande|opprinnelig melding|oprindelig meddelelse|alkuperäinen viesti|исходное сообщение|original)\s*[-_=*]{2,}\s*$",
    )
    .expect("static regex")
});

/// A line that opens forwarded mail.
pub static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(-{2,}\s*(forwarded message|forwarded message follows|wiadomość przekazana dalej|przekazana wiadomość|przesłana wiadomość|הודעה שהועברה|הודעה מועברת|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|vidarebefordrat meddelande|videresendt melding|пересылаемое сообщение|переслане повідомлення|forwarded)\s*-{2,}|begin forwarded message:|początek przekazywanej wiadomości:|początek wiadomości przekazanej dalej:|תחילת הודעה מועברת:|anfang der weitergeleiteten nachricht:|début du message réexpédié :?|inicio del mensaje reenviado:)\s*$",
    )
    .expect("static regex")
});

/// A footer a phone or an app adds ("Sent from my iPhone"): a signature of
/// the device, never part of what the person wrote.
pub static DEVICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(
            sent\ (from|via|with|using|by)\ (my\ .{1,80}|(the\ )?(iphone|ipad|ipod|android|mobile|phone|cell|samsung|galaxy|windows|mailbox|yahoo|outlook|gmail|airmail|blackberry|spark|proton|aol|mail\ for|my)\b.{0,80})
          | from\ my\ (iphone|ipad|android|mobile|phone|samsung|galaxy).{0,40}
          | get\ outlook\ for\ (ios|android).{0,40}
          | (wysłane|wysłano)\ (z|ze)\ (mojego|mojej|aplikacji|telefonu|iphone|ipada|ipad|samsung|urządzenia|poczty|outlook|androida|smartfona|tabletu).{0,80}
          | pobierz\ (aplikację\ )?outlook\ (dla|na)\ .{0,60}
          | נשלח\ מ(ה|-|־|ה-|ה־)?(iphone|ipad|samsung|galaxy|android|outlook|טלפון|נייד|סמסונג|אנדרואיד|אייפון|yahoo|gmail|mail|my).{0,60}
          | (השג|הורד|קבל)\ את\ outlook.{0,40}
          | (envoyé|envoye)\ (de|depuis)\ (mon|ma|l).{0,60}
          | von\ meinem\ .{0,60}\ gesendet\.?
          | gesendet\ von\ (meinem|mein)\ .{0,60}
          | enviado\ (desde|de)\ (mi|meu)\ .{0,60}
          | inviato\ da\ .{0,60}
          | verzonden\ (met|vanaf|van)\ (mijn|de)\ .{0,60}
          | skickat\ från\ (min|mitt)\ .{0,60}
          | sendt\ fra\ (min|mitt)\ .{0,60}
          | отправлено\ (с|из)\ .{0,60}
          | diese\ nachricht\ wurde\ von\ .{0,120}
          | <<sent\ by\ .{0,40}>>
        )\s*$",
    )
    .expect("static regex")
});

/// Opening words of a quote header that mail clients wrap over two or
/// three lines ("On Tue, Dec 1, 2026 at 10:00 AM Ruth <\nruth@x> wrote:").
pub static ATTRIBUTION_OPENER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(on|w dniu|dnia|בתאריך|ב-|am|le|el|il|op|den|em|в|у|el día|\d+|mon|tue|wed|thu|fri|sat|sun|pon|wt|śr|czw|pt|sob|niedz|יום)\b",
    )
    .expect("static regex")
});

/// A time of day or an address: what a quote header generated by a client
/// always carries, and a sentence of the author's rarely does.
pub static STAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(\d{1,2}[:.]\d{2}|@|\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})",
    )
    .expect("static regex")
});

/// Gmail's quote header without a verb: "2016-10-24 15:36 GMT+02:00 Ann <a@x>:".
pub static DATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2},? \d{1,2}:\d{2}").expect("static regex")
});

/// Zoho's quote header: "---- On Tue, 22 Dec 2015 … wrote ----".
pub static ZOHO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*-{2,}\s*(on|w dniu|am|le)\b.{3,300}\b(wrote|napisał\(a\)|napisał|schrieb|a écrit)\s*-{2,}\s*$").expect("static regex")
});

/// A time of day.
pub static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d{1,2}:\d{2}\b").expect("static regex"));
