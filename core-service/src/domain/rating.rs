//! Satisfaction ratings: a visitor rates a chat once it has ended, and
//! supervisors read how each agent and each day fared.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DomainError, FieldError, Millis, Person};

/// Longest comment a visitor may leave with their score.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// A visitor's verdict on one chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// 1 (bad) to 5 (great).
    pub score: u8,
    pub comment: Option<String>,
    pub created_at: Millis,
}

impl Rating {
    /// Checks a score of 1..=5 and a comment of at most
    /// `MAX_COMMENT_CHARS` (blank is no comment).
    pub fn parse(score: u32, comment: Option<&str>, now: Millis) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        if !(1..=5).contains(&score) {
            errors.push(FieldError::new("score", "must be a whole number from 1 to 5"));
        }
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
            errors
                .push(FieldError::new("comment", format!("must be at most {MAX_COMMENT_CHARS} characters")));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        Ok(Self { score: score as u8, comment: comment.map(str::to_string), created_at: now })
    }
}

/// One rated chat, as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedChat {
    pub agent: Option<Person>,
    pub score: u8,
    pub rated_at: Millis,
}

/// Count and average of a group of ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub count: u64,
    pub average: f64,
}

/// The ratings report: per agent (by name) and per UTC day (oldest first).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RatingsReport {
    pub by_agent: Vec<(Person, Tally)>,
    pub by_day: Vec<(String, Tally)>,
    pub overall: Option<Tally>,
}

fn tally(scores: &[u8]) -> Tally {
    let sum: u64 = scores.iter().map(|s| u64::from(*s)).sum();
    let count = scores.len() as u64;
    // Two decimals are all a report shows.
    let average = if count == 0 { 0.0 } else { (sum as f64 / count as f64 * 100.0).round() / 100.0 };
    Tally { count, average }
}

/// Groups rated chats by agent and by day.
pub fn report(chats: &[RatedChat]) -> RatingsReport {
    let mut by_agent: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    let mut by_day: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for c in chats {
        if let Some(a) = &c.agent {
            by_agent.entry((a.name.to_lowercase(), a.id.clone())).or_default().push(c.score);
        }
        let day = DateTime::<Utc>::from_timestamp_millis(c.rated_at)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        by_day.entry(day).or_default().push(c.score);
    }
    let names: BTreeMap<String, String> =
        chats.iter().filter_map(|c| c.agent.as_ref()).map(|a| (a.id.clone(), a.name.clone())).collect();
    let all: Vec<u8> = chats.iter().map(|c| c.score).collect();
    RatingsReport {
        by_agent: by_agent
            .into_iter()
            .map(|((_, id), scores)| (Person { name: names[&id].clone(), id }, tally(&scores)))
            .collect(),
        by_day: by_day.into_iter().map(|(day, scores)| (day, tally(&scores))).collect(),
        overall: (!all.is_empty()).then(|| tally(&all)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(agent: &str, score: u8, day: u32) -> RatedChat {
        RatedChat {
            agent: Some(Person { id: agent.to_lowercase(), name: agent.into() }),
            score,
            rated_at: 1_764_374_400_000 + i64::from(day) * 86_400_000, // 2025-11-29 + day
        }
    }

    #[test]
    fn scores_outside_one_to_five_and_long_comments_are_refused() {
        assert!(Rating::parse(0, None, 0).is_err());
        assert!(Rating::parse(6, None, 0).is_err());
        assert!(Rating::parse(5, Some(&"x".repeat(MAX_COMMENT_CHARS + 1)), 0).is_err());
        let r = Rating::parse(4, Some("  "), 0).unwrap();
        assert_eq!((r.score, r.comment), (4, None), "a blank comment is no comment");
    }

    #[test]
    fn the_report_counts_and_averages_by_agent_and_by_day() {
        let r = report(&[chat("Bea", 5, 0), chat("Bea", 4, 1), chat("al", 1, 1), chat("Bea", 4, 1)]);
        assert_eq!(r.by_agent.len(), 2);
        assert_eq!(r.by_agent[0].0.name, "al", "by name, case-insensitive");
        assert_eq!(r.by_agent[0].1, Tally { count: 1, average: 1.0 });
        assert_eq!(r.by_agent[1].1, Tally { count: 3, average: 4.33 });
        assert_eq!(
            r.by_day,
            vec![
                ("2025-11-29".to_string(), Tally { count: 1, average: 5.0 }),
                ("2025-11-30".to_string(), Tally { count: 3, average: 3.0 }),
            ]
        );
        assert_eq!(r.overall, Some(Tally { count: 4, average: 3.5 }));
        assert_eq!(report(&[]).overall, None);
    }
}
