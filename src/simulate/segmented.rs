//! Segments: any accumulator kept per segment key (`--by`), so a segment
//! holds the same metrics as the whole.

use crate::engine::pass::{Accumulator, Chunk, Rows, same};
use crate::engine::segments::SegmentKey;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmented<M> {
    /// Which segmentation of the plan keys the rows.
    pub segmentation: usize,
    /// An empty accumulator, to start a segment not seen before.
    empty: M,
    #[serde(with = "sorted_entries")]
    pub by_key: HashMap<SegmentKey, M>,
}

impl<M: Accumulator + Clone> Segmented<M> {
    pub fn new(segmentation: usize, empty: M) -> Segmented<M> {
        Segmented {
            segmentation,
            empty,
            by_key: HashMap::new(),
        }
    }

    /// The accumulator of `key`; an empty one when no row had it.
    pub fn get(&self, key: &SegmentKey) -> &M {
        self.by_key.get(key).unwrap_or(&self.empty)
    }
}

impl<M: Accumulator + Clone> Accumulator for Segmented<M> {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        let groups = chunk.segments[self.segmentation].groups(rows);
        for (key, rows) in groups.iter() {
            match self.by_key.get_mut(key) {
                Some(m) => m.add(chunk, Rows::Only(rows)),
                None => {
                    let mut m = self.empty.clone();
                    m.add(chunk, Rows::Only(rows));
                    self.by_key.insert(key.clone(), m);
                }
            }
        }
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        same("segmentations", &self.segmentation, &other.segmentation)?;
        for (key, m) in &other.by_key {
            match self.by_key.get_mut(key) {
                Some(mine) => mine.merge(m)?,
                None => {
                    let mut mine = self.empty.clone();
                    mine.merge(m)?;
                    self.by_key.insert(key.clone(), mine);
                }
            }
        }
        Ok(())
    }
}

/// A map as a list of entries sorted by key: JSON has only string keys,
/// and a sorted list serialises the same whatever the map's order.
mod sorted_entries {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;
    use std::hash::Hash;

    pub fn serialize<K: Serialize + Ord, V: Serialize, S: Serializer>(
        map: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&K, &V)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.serialize(s)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
