//! A run's lifecycle, one name per state. Stored as lowercase text in `runs.status`, always
//! written and compared through this type (the store binds it; no SQL spells a state).

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting for a training slot.
    Queued,
    Running,
    /// A stop was asked for; the run ends after its current iteration and a checkpoint.
    Stopping,
    Stopped,
    Finished,
    Failed,
    /// The server went down while the run was active.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [Self; 7] = [Self::Queued, Self::Running, Self::Stopping, Self::Stopped, Self::Finished, Self::Failed, Self::Interrupted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// Holds (or is about to hold) a training slot: not to be deleted, resumed or restarted.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running | Self::Stopping)
    }

    /// Can continue from its latest checkpoint.
    pub fn is_resumable(self) -> bool {
        matches!(self, Self::Stopped | Self::Failed | Self::Interrupted)
    }

    /// Can be asked to stop.
    pub fn is_stoppable(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus;

    #[test]
    fn names_match_serde_and_every_state_is_classified_once() {
        for s in RunStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            // Active and resumable runs are disjoint; finished is neither.
            assert!(!(s.is_active() && s.is_resumable()), "{s}");
        }
        assert!(!RunStatus::Finished.is_active() && !RunStatus::Finished.is_resumable());
        assert_eq!(RunStatus::ALL.iter().filter(|s| s.is_active()).count(), 3);
    }
}
