//! The quota commands, as zkCli 3.9 runs them (`SetQuotaCommand`, `ListQuotaCommand`,
//! `DelQuotaCommand`): plain create / getData / setData / delete requests on the nodes under
//! `/zookeeper/quota` (see `paddock_types::quota`); the server derives the usage and enforces
//! the hard limits from those nodes.
//!
//! zkCli prints some outcomes with `err.println` and still exits 0 (a missing quota, a bad
//! value): those come back as `Ok(Some(text))`, the text for stderr. Its exceptions (a missing
//! path, a nested quota, a failed request) are `Err`.

use paddock_client::{Client, CreateMode, ErrorCode};
use paddock_types::path::QUOTA_NODE;
use paddock_types::quota::{
    limit_path, quota_path, stat_path, StatsTrack, LIMITS_NODE, STATS_NODE,
};

use super::{child_path, e};
use crate::parse::QuotaFlag;

/// `setquota -n|-b|-N|-B val path`.
pub(super) async fn set_quota(
    client: &Client,
    flag: QuotaFlag,
    value: &str,
    path: &str,
    out: &mut String,
) -> Result<Option<String>, String> {
    if path.starts_with(QUOTA_NODE) {
        return Ok(Some(format!(
            "cannot set a quota under the path: {QUOTA_NODE}"
        )));
    }
    let mut quota = StatsTrack::new();
    quota.set_count(-1);
    quota.set_bytes(-1);
    quota.set_count_hard_limit(-1);
    quota.set_byte_hard_limit(-1);
    // zkCli's checkOptionValue: counts as Java ints, bytes as longs.
    let parsed = match flag {
        QuotaFlag::Count | QuotaFlag::CountHard => value.parse::<i32>().map(i64::from),
        QuotaFlag::Bytes | QuotaFlag::BytesHard => value.parse::<i64>(),
    };
    let Ok(v) = parsed else {
        return Ok(Some(
            "NumberFormatException happens when parsing the option value".into(),
        ));
    };
    match flag {
        QuotaFlag::Count | QuotaFlag::CountHard if v <= 0 => {
            return Ok(Some("the num quota must be greater than zero".into()))
        }
        QuotaFlag::Bytes | QuotaFlag::BytesHard if v < 0 => {
            return Ok(Some(
                "the bytes quota must be greater than or equal to zero".into(),
            ))
        }
        QuotaFlag::Count => quota.set_count(v),
        QuotaFlag::Bytes => quota.set_bytes(v),
        QuotaFlag::CountHard => quota.set_count_hard_limit(v),
        QuotaFlag::BytesHard => quota.set_byte_hard_limit(v),
    }
    create_quota(client, path, &quota, out).await?;
    Ok(None)
}

/// zkCli's `SetQuotaCommand.createQuota`.
async fn create_quota(
    client: &Client,
    path: &str,
    quota: &StatsTrack,
    out: &mut String,
) -> Result<(), String> {
    if client.exists(path).await.map_err(e(path))?.is_none() {
        return Err(format!("{path} does not exist."));
    }
    check_if_child_quota(client, path).await?;
    check_if_parent_quota(client, path).await?;
    // The quota path's parents, one per component (ZooKeeper keeps /zookeeper/quota itself).
    let mut qpath = QUOTA_NODE.to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        qpath.push('/');
        qpath.push_str(part);
        if client.exists(&qpath).await.map_err(e(&qpath))?.is_none() {
            match client
                .create(&qpath, Vec::new(), CreateMode::Persistent)
                .await
            {
                Ok(_) => {}
                Err(err) if err.code() == ErrorCode::NodeExists => {}
                Err(err) => return Err(super::format::error(&err, &qpath)),
            }
        }
    }
    let (limits, stats) = (limit_path(path), stat_path(path));
    let mut usage = StatsTrack::new();
    if client.exists(&limits).await.map_err(e(&limits))?.is_none() {
        let data = quota.to_string().into_bytes();
        client
            .create(&limits, data, CreateMode::Persistent)
            .await
            .map_err(e(&limits))?;
        usage.set_count(0);
        usage.set_bytes(0);
        let data = usage.to_string().into_bytes();
        client
            .create(&stats, data, CreateMode::Persistent)
            .await
            .map_err(e(&stats))?;
        let limit = read_track(client, &limits).await?;
        let usage = read_track(client, &stats).await?;
        warn_below_usage(&limit, &usage, out);
    } else {
        let mut limit = read_track(client, &limits).await?;
        if quota.count() > -1 {
            limit.set_count(quota.count());
        }
        if quota.bytes() > -1 {
            limit.set_bytes(quota.bytes());
        }
        if quota.count_hard_limit() > -1 {
            limit.set_count_hard_limit(quota.count_hard_limit());
        }
        if quota.byte_hard_limit() > -1 {
            limit.set_byte_hard_limit(quota.byte_hard_limit());
        }
        let usage = read_track(client, &stats).await?;
        warn_below_usage(&limit, &usage, out);
        client
            .set_data(&limits, limit.to_string().into_bytes(), -1)
            .await
            .map_err(e(&limits))?;
    }
    Ok(())
}

async fn read_track(client: &Client, path: &str) -> Result<StatsTrack, String> {
    let (data, _) = client.get_data(path).await.map_err(e(path))?;
    Ok(StatsTrack::parse_bytes(&data))
}

/// zkCli's `checkQuota`: a warning (on stdout) when a limit is already below the usage.
fn warn_below_usage(limit: &StatsTrack, usage: &StatsTrack, out: &mut String) {
    let below =
        |soft: i64, hard: i64, used: i64| (soft > -1 && soft < used) || (hard > -1 && hard < used);
    if below(limit.count(), limit.count_hard_limit(), usage.count()) {
        out.push_str(&format!(
            "[Warning]: the count quota you create is less than the existing count:{}\n",
            usage.count()
        ));
    }
    if below(limit.bytes(), limit.byte_hard_limit(), usage.bytes()) {
        out.push_str(&format!(
            "[Warning]: the bytes quota you create is less than the existing bytes:{}\n",
            usage.bytes()
        ));
    }
}

/// Refuses a quota on `path` when a node below it has one (zkCli's `checkIfChildQuota`).
async fn check_if_child_quota(client: &Client, path: &str) -> Result<(), String> {
    let own = quota_path(path);
    let mut stack = vec![own.clone()];
    while let Some(qpath) = stack.pop() {
        let children = match client.get_children(&qpath).await {
            Ok((c, _)) => c,
            Err(err) if err.code() == ErrorCode::NoNode => continue,
            Err(err) => return Err(super::format::error(&err, &qpath)),
        };
        if qpath != own && children.iter().any(|c| c == LIMITS_NODE) {
            let child = &qpath[QUOTA_NODE.len()..];
            return Err(format!("{path} has a child {child} which has a quota"));
        }
        for c in children {
            if c != LIMITS_NODE && c != STATS_NODE {
                stack.push(child_path(&qpath, &c));
            }
        }
    }
    Ok(())
}

/// Refuses a quota on `path` when an ancestor has one (zkCli's `checkIfParentQuota`).
async fn check_if_parent_quota(client: &Client, path: &str) -> Result<(), String> {
    let own = quota_path(path);
    let mut qpath = QUOTA_NODE.to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        qpath.push('/');
        qpath.push_str(part);
        let children = match client.get_children(&qpath).await {
            Ok((c, _)) => c,
            Err(err) if err.code() == ErrorCode::NoNode => return Ok(()),
            Err(err) => return Err(super::format::error(&err, &qpath)),
        };
        if children.is_empty() {
            return Ok(());
        }
        if qpath != own && children.iter().any(|c| c == LIMITS_NODE) {
            let parent = &qpath[QUOTA_NODE.len()..];
            return Err(format!("{path} has a parent {parent} which has a quota"));
        }
    }
    Ok(())
}

/// `listquota path`: the limits, then the usage.
pub(super) async fn list_quota(
    client: &Client,
    path: &str,
    out: &mut String,
) -> Result<Option<String>, String> {
    let limits = limit_path(path);
    let mut note = format!("absolute path is {limits}");
    for (i, node) in [limits.clone(), stat_path(path)].iter().enumerate() {
        match client.get_data(node).await {
            Ok((data, _)) => {
                let what = if i == 0 { "quota" } else { "stat" };
                let track = StatsTrack::parse_bytes(&data);
                out.push_str(&format!("Output {what} for {path} {track}\n"));
            }
            Err(err) if err.code() == ErrorCode::NoNode => {
                note.push_str(&format!("\nquota for {path} does not exist."));
                break;
            }
            Err(err) => return Err(super::format::error(&err, node)),
        }
    }
    Ok(Some(note))
}

/// `delquota [-n|-b|-N|-B] path`: without a flag the whole quota (and the quota path's empty
/// parents), with one only that limit (set back to -1).
pub(super) async fn del_quota(
    client: &Client,
    flag: Option<QuotaFlag>,
    path: &str,
    out: &mut String,
) -> Result<Option<String>, String> {
    let parent = quota_path(path);
    let limits = limit_path(path);
    if client.exists(&limits).await.map_err(e(&limits))?.is_none() {
        out.push_str(&format!("Quota does not exist for {path}\n"));
        return Ok(None);
    }
    let mut limit = match client.get_data(&limits).await {
        Ok((data, _)) => StatsTrack::parse_bytes(&data),
        Err(err) if err.code() == ErrorCode::NoNode => {
            return Ok(Some(format!("quota for {path} does not exist.")))
        }
        Err(err) => return Err(super::format::error(&err, &limits)),
    };
    match flag {
        None => {
            let (children, _) = client.get_children(&parent).await.map_err(e(&parent))?;
            for c in children {
                let child = child_path(&parent, &c);
                client.delete(&child, -1).await.map_err(e(&child))?;
            }
            trim_proc_quotas(client, &parent).await?;
        }
        Some(flag) => {
            match flag {
                QuotaFlag::Count => limit.set_count(-1),
                QuotaFlag::Bytes => limit.set_bytes(-1),
                QuotaFlag::CountHard => limit.set_count_hard_limit(-1),
                QuotaFlag::BytesHard => limit.set_byte_hard_limit(-1),
            }
            client
                .set_data(&limits, limit.to_string().into_bytes(), -1)
                .await
                .map_err(e(&limits))?;
        }
    }
    Ok(None)
}

/// Deletes the now empty quota path and its empty parents, up to `/zookeeper/quota`.
async fn trim_proc_quotas(client: &Client, start: &str) -> Result<(), String> {
    let mut path = start.to_string();
    while path != QUOTA_NODE && path.starts_with(QUOTA_NODE) {
        let (children, _) = client.get_children(&path).await.map_err(e(&path))?;
        if !children.is_empty() {
            break;
        }
        client.delete(&path, -1).await.map_err(e(&path))?;
        path.truncate(path.rfind('/').unwrap_or(0));
    }
    Ok(())
}
