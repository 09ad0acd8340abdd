//! The `promql` check: an instant query, or a range query reduced to one value and its trend.

use triage_shared::prom::Series;
use triage_shared::runbook::{Evidence, Reduce};

use super::{CheckContext, Found, NotRun, bad_template, now, reduce, slope_per_minute};
use crate::runbooks::template::{self, Values};

pub(super) async fn promql(
    ctx: &CheckContext,
    query: &str,
    range: Option<&str>,
    how: Reduce,
    values: &Values,
) -> Result<Found, NotRun> {
    let resolved = template::promql(query, values).map_err(bad_template)?;
    let prom = ctx.prom()?;
    let mut found = Found { query: Some(resolved.clone()), ..Found::default() };
    let series = match range {
        None => {
            let result = prom.query(&resolved, None).await.map_err(|e| NotRun::Failed(e.into()))?;
            let points: Vec<Series> = result.series;
            let v: Vec<f64> = points.iter().filter_map(|s| s.points.last().map(|p| p[1])).collect();
            if !v.is_empty() {
                let value = match how {
                    Reduce::Avg => v.iter().sum::<f64>() / v.len() as f64,
                    Reduce::Last | Reduce::Max => v.iter().copied().fold(f64::MIN, f64::max),
                };
                found.values.insert("value".to_owned(), value);
            }
            points
        }
        Some(r) => {
            let (_, secs) = template::range(r, values).map_err(bad_template)?;
            let end = now();
            let step = (secs / 120.0).max(1.0).round();
            let result = prom
                .query_range(&resolved, end - secs, end, step)
                .await
                .map_err(|e| NotRun::Failed(e.into()))?;
            if let Some((value, points)) = reduce(&result.series, how) {
                found.values.insert("value".to_owned(), value);
                if let Some(slope) = slope_per_minute(&points) {
                    found.values.insert("slope_per_min".to_owned(), slope);
                }
                found.trend = Some(points);
            }
            result.series
        }
    };
    if series.is_empty() {
        found.note = Some("the query returned no series".to_owned());
    }
    let mut shown = series;
    shown.truncate(24);
    found.evidence = Some(Evidence::Series { series: shown, threshold: None, unit: None });
    Ok(found)
}
