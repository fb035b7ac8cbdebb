//! Small JSON helpers shared by the output documents.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// Named numbers that serialise as a JSON object in their given order (a decomposition
/// row's components, say), where a bare array would leave the reader to pair positions
/// with names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "std::collections::BTreeMap<String, f64>")]
pub struct Named(pub Vec<(String, f64)>);

impl Named {
    /// Pair `names` with `values`.
    pub fn new(names: &[String], values: &[f64]) -> Named {
        Named(names.iter().cloned().zip(values.iter().copied()).collect())
    }
}

impl From<std::collections::BTreeMap<String, f64>> for Named {
    fn from(m: std::collections::BTreeMap<String, f64>) -> Self {
        Named(m.into_iter().collect())
    }
}

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}
