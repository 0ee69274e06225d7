//! What the admin API reads of the ACME manager: every wanted name with its state, and the
//! hosts that cannot be ordered with why (`GET /api/certificates`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What the admin API shows of one name.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NameView {
    pub name: String,
    /// `config`, or `service NAME`.
    pub source: String,
    /// `pending` (no certificate yet), `ordering`, `waiting` (another berth holds the
    /// lock), `valid`, `renewing`, `failed` (see `error`; the previous one, if any, serves).
    pub state: &'static str,
    pub not_after: Option<u64>,
    pub renew_at: Option<u64>,
    pub next_attempt: Option<u64>,
    pub failures: u32,
    pub error: Option<String>,
}

/// What the admin API shows: every wanted name, and the hosts refused with their reasons.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub names: Vec<NameView>,
    pub refused: BTreeMap<String, String>,
}

/// The certificate state the admin API reads.
#[derive(Clone, Debug, Default)]
pub struct Status(Arc<Mutex<View>>);

impl Status {
    pub fn view(&self) -> View {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(super) fn set(&self, view: View) {
        if let Ok(mut s) = self.0.lock() {
            *s = view;
        }
    }
}
