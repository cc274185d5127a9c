//! Deterministic demo tenants: the same `--seed-users N` always yields the same users, spread over
//! a database connection and two social ones, with realistic metadata, unset fields, blocked users
//! and `created_at` values spread over several years (all distinct, increasing with the index).

use crate::store::{Connection, StoredUser};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

/// A small, fast, deterministic generator (SplitMix64); quality is plenty for demo data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `pct`%.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(len);
        s
    }
    pub fn alnum(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";
pub const GOOGLE_CONNECTION: &str = "google-oauth2";
pub const GITHUB_CONNECTION: &str = "github";
/// A database connection that no application has enabled (imports into it must fail).
pub const ORPHAN_CONNECTION: &str = "legacy-db";
/// A passwordless connection (not a database connection).
pub const EMAIL_CONNECTION: &str = "email";

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Alan",
    "Barbara",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Tim",
    "Hedy",
    "Edsger",
    "Katherine",
    "John",
    "Mary",
    "Guido",
    "Sophie",
    "Niklaus",
    "Joan",
    "Chloé",
    "José",
    "Zoë",
    "Björn",
    "O'Neil",
    "Anne-Marie",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Turing",
    "Liskov",
    "Ritchie",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Dijkstra",
    "Johnson",
    "McCarthy",
    "Jackson",
    "van Rossum",
    "Wilson",
    "Wirth",
    "Clarke",
    "Durand",
    "García",
    "Smith",
    "Øvergaard",
    "O'Brien",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "acme.test",
    "mail.example.org",
    "corp.example.net",
];
const PLANS: &[&str] = &["free", "pro", "enterprise"];
const CITIES: &[(&str, &str)] = &[
    ("Paris", "FR"),
    ("Berlin", "DE"),
    ("Lisbon", "PT"),
    ("Austin", "US"),
    ("Kyoto", "JP"),
    ("Lagos", "NG"),
];
const LOCALES: &[&str] = &["en", "fr", "de", "pt-BR", "ja"];

/// 2019-01-01T00:00:00Z: the seeded tenant's first user.
const START_MS: i64 = 1_546_300_800_000;
/// Seeded users are created over about six years.
const SPAN_MS: i64 = 6 * 365 * 86_400_000;
/// Seeded activity ends at 2025-06-30, so `updated_at`/`last_login` never lie in the future.
const END_MS: i64 = 1_751_241_600_000;

pub fn connection_id(rng: &mut Rng) -> String {
    format!("con_{}", rng.alnum(16))
}

/// The seeded connections. `client_id` is the emulator's one application.
pub fn connections(client_id: &str) -> Vec<Connection> {
    let mut rng = Rng::new(0xC0FFEE);
    let mk = |rng: &mut Rng, name: &str, strategy: &str, enabled: bool| Connection {
        id: connection_id(rng),
        name: name.to_string(),
        strategy: strategy.to_string(),
        enabled_clients: if enabled {
            vec![client_id.to_string()]
        } else {
            vec![]
        },
    };
    vec![
        mk(&mut rng, DATABASE_CONNECTION, "auth0", true),
        mk(&mut rng, GOOGLE_CONNECTION, "google-oauth2", true),
        mk(&mut rng, GITHUB_CONNECTION, "github", true),
        mk(&mut rng, ORPHAN_CONNECTION, "auth0", false),
        mk(&mut rng, EMAIL_CONNECTION, "email", true),
    ]
}

/// Auth0's default picture: a Gravatar URL with the initials avatar as fallback.
pub fn gravatar(email: &str, initials: &str) -> String {
    let digest = Md5::digest(email.trim().to_lowercase().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "https://s.gravatar.com/avatar/{hex}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{}.png",
        initials.to_lowercase()
    )
}

fn initials(first: &str, last: &str) -> String {
    first
        .chars()
        .take(1)
        .chain(last.chars().take(1))
        .collect::<String>()
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'é' | 'è' => Some('e'),
            'ë' => Some('e'),
            'ö' | 'ø' | 'Ø' => Some('o'),
            'í' => Some('i'),
            'á' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The `n` seeded users, in creation order.
pub fn users(n: usize) -> Vec<StoredUser> {
    let mut rng = Rng::new(0x5EED_0A17);
    let step = if n == 0 { 0 } else { SPAN_MS / n as i64 };
    (0..n)
        .map(|i| {
            user(
                &mut rng,
                i,
                START_MS + i as i64 * step + rng_jitter(i, step),
            )
        })
        .collect()
}

fn rng_jitter(i: usize, step: i64) -> i64 {
    // Distinct and increasing: stay inside the first half of this user's slot.
    if step < 2 {
        0
    } else {
        (Rng::new(i as u64).below((step / 2) as u64)) as i64
    }
}

fn user(rng: &mut Rng, i: usize, created: i64) -> StoredUser {
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    let domain = *rng.pick(DOMAINS);
    let roll = rng.below(100);
    let (connection, provider, social) = if roll < 75 {
        (DATABASE_CONNECTION, "auth0", false)
    } else if roll < 95 {
        (GOOGLE_CONNECTION, "google-oauth2", true)
    } else {
        (GITHUB_CONNECTION, "github", true)
    };
    let local = format!("{}.{}{}", ascii_slug(first), ascii_slug(last), i);
    let email = if social && rng.chance(10) {
        // Social providers keep the case people typed.
        format!("{}.{}{}@{}", first, ascii_slug(last), i, domain)
    } else {
        format!("{local}@{domain}")
    };
    // Ids carry the index, so that they stay unique however many users are seeded.
    let raw_id = match provider {
        "auth0" => format!("{}{:08x}", rng.hex(16), i),
        "github" => (10_000_000 + i as u64).to_string(),
        _ => format!("1{:09}{:011}", i, rng.below(100_000_000_000)),
    };
    let user_id = format!("{provider}|{raw_id}");

    let updated = (created + rng.below(400 * 86_400_000) as i64).min(END_MS.max(created));
    let mut u = Map::new();
    // Keys in the order Auth0's search returns them (alphabetical-ish), unset fields omitted.
    let blocked_roll = rng.below(100);
    if blocked_roll < 3 {
        u.insert("blocked".into(), json!(true));
    } else if blocked_roll < 13 {
        u.insert("blocked".into(), json!(false));
    }
    u.insert("created_at".into(), json!(crate::time::format_ms(created)));
    u.insert("email".into(), json!(email));
    u.insert("email_verified".into(), json!(social || rng.chance(70)));
    let has_names = social || rng.chance(85);
    if has_names {
        u.insert("family_name".into(), json!(last));
        u.insert("given_name".into(), json!(first));
    }
    u.insert(
        "identities".into(),
        json!([{"connection": connection, "user_id": raw_id, "provider": provider, "isSocial": social}]),
    );
    let logged_in = rng.chance(85);
    if logged_in {
        let last_login = (updated - rng.below(30 * 86_400_000) as i64).max(created);
        u.insert(
            "last_ip".into(),
            json!(format!("203.0.113.{}", rng.below(254) + 1)),
        );
        u.insert(
            "last_login".into(),
            json!(crate::time::format_ms(last_login)),
        );
        u.insert("logins_count".into(), json!(1 + rng.below(500)));
    }
    if !social && rng.chance(5) {
        u.insert(
            "last_password_reset".into(),
            json!(crate::time::format_ms(updated)),
        );
    }
    if rng.chance(10) {
        u.insert("multifactor".into(), json!(["guardian"]));
    }
    u.insert(
        "name".into(),
        json!(if has_names {
            format!("{first} {last}")
        } else {
            email.clone()
        }),
    );
    u.insert(
        "nickname".into(),
        json!(email.split('@').next().unwrap_or_default()),
    );
    if !social && rng.chance(20) {
        u.insert(
            "phone_number".into(),
            json!(format!("+1555{:07}", rng.below(10_000_000))),
        );
        u.insert("phone_verified".into(), json!(rng.chance(50)));
    }
    u.insert(
        "picture".into(),
        json!(gravatar(&email, &initials(first, last))),
    );
    u.insert("updated_at".into(), json!(crate::time::format_ms(updated)));
    u.insert("user_id".into(), json!(user_id));
    if rng.chance(50) {
        let (city, country) = *rng.pick(CITIES);
        u.insert(
            "user_metadata".into(),
            json!({
                "theme": if rng.chance(50) { "dark" } else { "light" },
                "locale": rng.pick(LOCALES),
                "newsletter": rng.chance(40),
                "address": {"city": city, "country": country}
            }),
        );
    }
    if !social && rng.chance(25) {
        u.insert(
            "username".into(),
            json!(format!("{}{}", ascii_slug(first), i)),
        );
    }
    if rng.chance(60) {
        let mut roles = vec![Value::from("user")];
        if rng.chance(10) {
            roles.push(Value::from("admin"));
        }
        u.insert(
            "app_metadata".into(),
            json!({"plan": rng.pick(PLANS), "roles": roles, "account_id": 1000 + rng.below(5000)}),
        );
    }
    StoredUser::new(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let a = users(500);
        let b = users(500);
        assert_eq!(a.len(), 500);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.doc, y.doc);
        }
        let created: Vec<i64> = a.iter().map(|u| u.created_ms).collect();
        assert!(
            created.windows(2).all(|w| w[0] < w[1]),
            "created_at strictly increasing"
        );
        let social = a
            .iter()
            .filter(|u| u.user_id.starts_with("google-oauth2|"))
            .count();
        assert!(social > 50 && social < 150, "{social}");
        assert!(a.iter().any(|u| u.doc.get("blocked") == Some(&json!(true))));
        assert!(a.iter().any(|u| !u.doc.contains_key("last_login")));
        assert!(a.iter().any(|u| u.doc.contains_key("user_metadata")));
        let ids: std::collections::HashSet<_> = a.iter().map(|u| u.user_id.clone()).collect();
        assert_eq!(ids.len(), 500);
        assert_eq!(
            crate::store::UserStore::from_users(users(50_000)).len(),
            50_000,
            "ids never collide"
        );
    }
}
