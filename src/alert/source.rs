//! Where anomalies came from: the kind of event and its name (an ARN, or a direct caller's
//! `source`). The pair is also the storm-control key, so that a direct caller naming itself
//! after a delivery stream's ARN cannot mute that stream's alerts.

/// The kinds of event that carry anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Firehose,
    KinesisAnalytics,
    KinesisStream,
    Direct,
}

impl SourceKind {
    /// The `source` message attribute and metric dimension.
    pub fn code(self) -> &'static str {
        match self {
            Self::Firehose => "firehose",
            Self::KinesisAnalytics => "kinesis-analytics",
            Self::KinesisStream => "kinesis-stream",
            Self::Direct => "direct",
        }
    }

    pub(crate) fn described(self) -> &'static str {
        match self {
            Self::Firehose => "Firehose delivery stream",
            Self::KinesisAnalytics => "Kinesis Data Analytics application",
            Self::KinesisStream => "Kinesis data stream",
            Self::Direct => "direct invocation from",
        }
    }
}

/// One source of anomalies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Source {
    pub(crate) kind: SourceKind,
    pub(crate) name: String,
    pub(crate) invocation_id: Option<String>,
}

/// What storm control tells sources apart by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey {
    pub(crate) kind: SourceKind,
    pub(crate) name: String,
}

impl Source {
    pub(crate) fn key(&self) -> SourceKey {
        SourceKey {
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    /// The last part of an ARN (`deliverystream/ClickStreamingFirehose` →
    /// `ClickStreamingFirehose`), or the name itself.
    pub(crate) fn short_name(&self) -> &str {
        self.name
            .rsplit(['/', ':'])
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.name)
    }
}
