//! Resource amounts as the recommender computes them, and the recommendation in the
//! shape of the VPA API's `status.recommendation`.
//!
//! Internally CPU is an `i64` of millicores and memory an `i64` of bytes, upstream's
//! `model.ResourceAmount`. On the wire (`RecommendedPodResources`, v1 `types.go`) every
//! amount is a quantity string: CPU always in millicores (`"250m"`, also `"2000m"`) and
//! memory as whole bytes (`"262144000"`). Upstream writes the canonical forms (`"2"`,
//! `"250Mi"`); the values are equal, and ours are easy to compare with `kubectl` output by
//! eye and by script. Reading accepts any quantity.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::units;

/// A resource the VPA recommends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceName {
    /// CPU, in millicores internally.
    Cpu,
    /// Memory, in bytes internally.
    Memory,
}

impl ResourceName {
    /// Both resources, in API order.
    pub const ALL: [ResourceName; 2] = [ResourceName::Cpu, ResourceName::Memory];

    /// The API name (`"cpu"`, `"memory"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
        }
    }

    /// An amount of this resource as a quantity string.
    pub fn format(self, amount: i64) -> String {
        match self {
            ResourceName::Cpu => format!("{amount}m"),
            ResourceName::Memory => amount.to_string(),
        }
    }
}

/// CPU millicores and memory bytes, each possibly absent (`v1.ResourceList` restricted to
/// the two resources the VPA handles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceList {
    /// CPU in millicores.
    #[serde(
        rename = "cpu",
        with = "cpu_quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_millicores: Option<i64>,
    /// Memory in bytes.
    #[serde(
        rename = "memory",
        with = "memory_quantity",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_bytes: Option<i64>,
}

impl ResourceList {
    /// The amount of one resource.
    pub fn get(&self, resource: ResourceName) -> Option<i64> {
        match resource {
            ResourceName::Cpu => self.cpu_millicores,
            ResourceName::Memory => self.memory_bytes,
        }
    }

    /// Sets (or clears) the amount of one resource.
    pub fn set(&mut self, resource: ResourceName, amount: Option<i64>) {
        match resource {
            ResourceName::Cpu => self.cpu_millicores = amount,
            ResourceName::Memory => self.memory_bytes = amount,
        }
    }

    /// True when neither resource is set.
    pub fn is_empty(&self) -> bool {
        self.cpu_millicores.is_none() && self.memory_bytes.is_none()
    }
}

/// `status.recommendation`: one entry per container, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RecommendedPodResources {
    /// Per-container recommendations (`containerRecommendations`).
    pub container_recommendations: Vec<RecommendedContainerResources>,
}

/// One container's recommendation (`RecommendedContainerResources`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RecommendedContainerResources {
    /// Container name.
    pub container_name: String,
    /// Recommended requests, within the container policy.
    pub target: ResourceList,
    /// Minimum recommended requests, within the container policy.
    pub lower_bound: ResourceList,
    /// Maximum recommended requests, within the container policy.
    pub upper_bound: ResourceList,
    /// The target before `minAllowed`/`maxAllowed` were applied.
    pub uncapped_target: ResourceList,
}

fn serialize_with<S: Serializer>(
    amount: &Option<i64>,
    serializer: S,
    resource: ResourceName,
) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => serializer.serialize_str(&resource.format(*amount)),
        None => serializer.serialize_none(),
    }
}

/// Serde for CPU millicores as `"<n>m"`.
pub mod cpu_quantity {
    use super::*;

    pub fn serialize<S: Serializer>(
        millicores: &Option<i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serialize_with(millicores, serializer, ResourceName::Cpu)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        units::option_milli::deserialize(deserializer)
    }
}

/// Serde for memory bytes as an integer string; reading rounds up to whole bytes like
/// `Quantity.Value()`.
pub mod memory_quantity {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_with(bytes, serializer, ResourceName::Memory)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Ok(units::option_milli::deserialize(deserializer)?.map(milli_to_units_rounding_up))
    }
}

/// Milli-units to whole units, rounding up like `Quantity.Value()`.
pub fn milli_to_units_rounding_up(milli: i64) -> i64 {
    milli.div_euclid(1000) + i64::from(milli.rem_euclid(1000) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_written_as_millicores_and_bytes() {
        let list = ResourceList {
            cpu_millicores: Some(2000),
            memory_bytes: Some(262_144_000),
        };
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"{"cpu":"2000m","memory":"262144000"}"#);
        let read: ResourceList = serde_json::from_str(r#"{"cpu":"2","memory":"250Mi"}"#).unwrap();
        assert_eq!(read, list);
        let rounded: ResourceList = serde_json::from_str(r#"{"memory":"1500m"}"#).unwrap();
        assert_eq!(rounded.memory_bytes, Some(2));
        assert_eq!(
            serde_json::to_string(&ResourceList::default()).unwrap(),
            "{}"
        );
    }
}
