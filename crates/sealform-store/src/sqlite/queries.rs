//! The shared statements, instantiated for SQLite. The single writer serialises writes, so no row locks.
//! Below them, the chain-head statements the writer's batches use.

crate::queries::shared_queries!(sqlx::SqliteConnection, sqlx::SqlitePool, "", "");
crate::folder_queries::folder_queries!(sqlx::SqliteConnection, sqlx::SqlitePool);
crate::folder_grant_queries::folder_grant_queries!(sqlx::SqliteConnection, sqlx::SqlitePool);

/// Reads the chain head row (inside the writer's transaction).
pub(crate) async fn read_audit_head(conn: &mut sqlx::SqliteConnection) -> Result<ChainHead, StoreError> {
    let (seq, hash, last_checkpoint_micros): (i64, Vec<u8>, i64) =
        sqlx::query_as("SELECT seq, chain_hash, last_checkpoint_micros FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("read audit head"))?;
    let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?;
    Ok(ChainHead { seq, hash, last_checkpoint_micros })
}

/// Writes the chain head row.
pub(crate) async fn store_audit_head(conn: &mut sqlx::SqliteConnection, head: ChainHead) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET seq = $1, chain_hash = $2, last_checkpoint_micros = $3 WHERE id = 1")
        .bind(head.seq)
        .bind(head.hash.as_slice())
        .bind(head.last_checkpoint_micros)
        .execute(&mut *conn)
        .await
        .map_err(backend("move audit head"))?;
    Ok(())
}

/// The shared key-state check, for the batched submission write ([`super::submissions`]).
pub(crate) async fn key_usable(conn: &mut sqlx::SqliteConnection, org: OrgId, key: KeyId) -> Result<(), StoreError> {
    ensure_key_usable(conn, org, key).await
}
