//! Incidents the sandbox can be put into, by name (`--incident NAME`, the control endpoint, the CLI).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One scenario of the platform's troubleshooting guide, or `Healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Incident {
    #[default]
    Healthy,
    ConsumerLag,
    PartitionImbalance,
    KafkaConnection,
    WebsocketDrops,
    WebsocketMemory,
    MlLatency,
    ModelLoading,
    PoolExhaustion,
    SlowQueries,
    HighCpu,
    MemoryLeak,
    ErrorRate,
}

impl Incident {
    pub const ALL: [Incident; 13] = [
        Self::Healthy,
        Self::ConsumerLag,
        Self::PartitionImbalance,
        Self::KafkaConnection,
        Self::WebsocketDrops,
        Self::WebsocketMemory,
        Self::MlLatency,
        Self::ModelLoading,
        Self::PoolExhaustion,
        Self::SlowQueries,
        Self::HighCpu,
        Self::MemoryLeak,
        Self::ErrorRate,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::ConsumerLag => "consumer-lag",
            Self::PartitionImbalance => "partition-imbalance",
            Self::KafkaConnection => "kafka-connection",
            Self::WebsocketDrops => "websocket-drops",
            Self::WebsocketMemory => "websocket-memory",
            Self::MlLatency => "ml-latency",
            Self::ModelLoading => "model-loading",
            Self::PoolExhaustion => "pool-exhaustion",
            Self::SlowQueries => "slow-queries",
            Self::HighCpu => "high-cpu",
            Self::MemoryLeak => "memory-leak",
            Self::ErrorRate => "error-rate",
        }
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown incident `{0}`; known: healthy, consumer-lag, partition-imbalance, kafka-connection, websocket-drops, websocket-memory, ml-latency, model-loading, pool-exhaustion, slow-queries, high-cpu, memory-leak, error-rate"
)]
pub struct UnknownIncident(pub String);

impl FromStr for Incident {
    type Err = UnknownIncident;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|i| i.name() == s).ok_or_else(|| UnknownIncident(s.to_owned()))
    }
}
