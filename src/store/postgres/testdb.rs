//! A database of its own for each test, on the server `tests/pg/pg.sh`
//! starts (`TICKETBOX_PG` holds its URL). Without that variable the test
//! says it is skipped, unless `TICKETBOX_REQUIRE_PG=1` (as in
//! `tests/run-all.sh`) makes a missing server a failure. For tests only
//! (the library's and the binary's), hence hidden from the docs.

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    /// The database's URL, password included (tests only).
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    /// A new empty database, or none when no test server is configured.
    pub fn new() -> Option<TestDb> {
        let Ok(admin) = std::env::var("TICKETBOX_PG") else {
            if std::env::var("TICKETBOX_REQUIRE_PG").as_deref() == Ok("1") {
                panic!(
                    "TICKETBOX_REQUIRE_PG=1 but TICKETBOX_PG is not set (bash tests/pg/pg.sh up)"
                );
            }
            eprintln!(
                "skipped: no PostgreSQL for tests (set TICKETBOX_PG; bash tests/pg/pg.sh up)"
            );
            return None;
        };
        let name = format!(
            "tb_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin2 = admin.clone();
        let name2 = name.clone();
        // The blocking client may not start inside a test's runtime.
        std::thread::spawn(move || {
            let mut c = Client::connect(&admin2, NoTls).expect("the test PostgreSQL answers");
            // One statement each: several in one string are one transaction,
            // which these refuse.
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name2} WITH (FORCE)"))
                .expect("no old test database");
            c.batch_execute(&format!("CREATE DATABASE {name2}"))
                .expect("a test database");
        })
        .join()
        .expect("creating a test database");
        // The same server and options, another database.
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let url = match base.rsplit_once('/') {
            Some((server, _)) if query.is_empty() => format!("{server}/{name}"),
            Some((server, _)) => format!("{server}/{name}?{query}"),
            None => panic!("TICKETBOX_PG is not a postgres:// URL: {admin}"),
        };
        Some(TestDb { url, admin, name })
    }
}

impl TestDb {
    /// The test server's certificate, for TLS (`TICKETBOX_PG_CA`).
    pub fn ca_file() -> Option<std::path::PathBuf> {
        match std::env::var("TICKETBOX_PG_CA") {
            Ok(path) => Some(path.into()),
            Err(_) if std::env::var("TICKETBOX_REQUIRE_PG").as_deref() == Ok("1") => {
                panic!(
                    "TICKETBOX_REQUIRE_PG=1 but TICKETBOX_PG_CA is not set (bash tests/pg/pg.sh ca)"
                )
            }
            Err(_) => {
                eprintln!("skipped: no TICKETBOX_PG_CA (bash tests/pg/pg.sh ca)");
                None
            }
        }
    }

    /// The URL without its password, and the password, as an admin
    /// configures them (`[store] url` and `password_file`).
    pub fn url_and_password(&self) -> (String, String) {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .unwrap_or(("postgres", &self.url));
        match rest.split_once('@') {
            Some((user_info, host)) => {
                let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
                (format!("{scheme}://{user}@{host}"), password.to_owned())
            }
            None => (self.url.clone(), String::new()),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = Client::connect(&admin, NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}
