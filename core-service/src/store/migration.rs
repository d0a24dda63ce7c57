//! Schema migrations, applied at start on SQLite and PostgreSQL alike.

use sea_orm_migration::prelude::*;

use crate::domain::permission::built_in_groups;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Outbox),
            Box::new(OutboxEnvelope),
            Box::new(OneOpenRoomPerCustomer),
            Box::new(LoginFailures),
            Box::new(RoomAddress),
            Box::new(NoIndexOnLastMessage),
            Box::new(AgentAway),
            Box::new(RoomLeftOffline),
            Box::new(Notes),
            Box::new(Ratings),
            Box::new(Webhooks),
            Box::new(AuditLog),
            Box::new(RoomErased),
            Box::new(AgentCapacity),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261123_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    Id,
    Status,
    Channel,
    VisitorId,
    VisitorName,
    VisitorEmail,
    ExternalId,
    AgentId,
    AgentName,
    Subject,
    CreatedAt,
    LastMessageAt,
    EngagedAt,
    LastSeq,
    EndedAt,
    EndMessage,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    RoomId,
    Seq,
    SenderKind,
    SenderId,
    SenderName,
    Content,
    ClientId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    Username,
    Name,
    GroupName,
    PasswordHash,
    TokenVersion,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PermissionGroups {
    Table,
    Name,
    Permissions,
    BuiltIn,
}

#[derive(DeriveIden)]
enum RoomDeclines {
    Table,
    RoomId,
    AgentId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CannedResponses {
    Table,
    Id,
    OwnerId,
    Shared,
    Shortcut,
    Title,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum AgentPresence {
    Table,
    ReplicaId,
    AgentId,
    Connections,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Meta {
    Table,
    Key,
    Value,
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(64).not_null().to_owned()
}

fn id_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(64).null().to_owned()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn millis_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().default(false).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Rooms::Table)
                .col(id(Rooms::Id).primary_key())
                .col(ColumnDef::new(Rooms::Status).string_len(16).not_null())
                .col(ColumnDef::new(Rooms::Channel).string_len(16).not_null())
                .col(id(Rooms::VisitorId))
                .col(text(Rooms::VisitorName))
                .col(text_null(Rooms::VisitorEmail))
                .col(text_null(Rooms::ExternalId))
                .col(id_null(Rooms::AgentId))
                .col(text_null(Rooms::AgentName))
                .col(text_null(Rooms::Subject))
                .col(millis(Rooms::CreatedAt))
                .col(millis(Rooms::LastMessageAt))
                .col(millis_null(Rooms::EngagedAt))
                .col(ColumnDef::new(Rooms::LastSeq).big_integer().not_null().default(0))
                .col(millis_null(Rooms::EndedAt))
                .col(text_null(Rooms::EndMessage))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("rooms_status_created", vec![Rooms::Status, Rooms::CreatedAt]),
            ("rooms_status_last_message", vec![Rooms::Status, Rooms::LastMessageAt]),
            ("rooms_agent_status", vec![Rooms::AgentId, Rooms::Status]),
            ("rooms_channel_external", vec![Rooms::Channel, Rooms::ExternalId]),
        ] {
            let mut idx = Index::create().name(name).table(Rooms::Table).to_owned();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }

        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(id(Messages::Id).primary_key())
                .col(id(Messages::RoomId))
                .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
                .col(ColumnDef::new(Messages::SenderKind).string_len(16).not_null())
                .col(id(Messages::SenderId))
                .col(text(Messages::SenderName))
                .col(text(Messages::Content))
                .col(ColumnDef::new(Messages::ClientId).string_len(256).null())
                .col(millis(Messages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("messages_room_seq")
                .table(Messages::Table)
                .col(Messages::RoomId)
                .col(Messages::Seq)
                .unique()
                .to_owned(),
        )
        .await?;
        // NULL client_ids never collide (both databases treat NULLs as distinct).
        m.create_index(
            Index::create()
                .name("messages_room_sender_client")
                .table(Messages::Table)
                .col(Messages::RoomId)
                .col(Messages::SenderKind)
                .col(Messages::SenderId)
                .col(Messages::ClientId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Agents::Table)
                .col(id(Agents::Id).primary_key())
                .col(ColumnDef::new(Agents::Username).string_len(64).not_null().unique_key())
                .col(text(Agents::Name))
                .col(ColumnDef::new(Agents::GroupName).string_len(64).not_null())
                .col(text(Agents::PasswordHash))
                .col(ColumnDef::new(Agents::TokenVersion).big_integer().not_null().default(0))
                .col(flag(Agents::Disabled))
                .col(millis(Agents::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PermissionGroups::Table)
                .col(ColumnDef::new(PermissionGroups::Name).string_len(64).not_null().primary_key())
                .col(text(PermissionGroups::Permissions))
                .col(flag(PermissionGroups::BuiltIn))
                .to_owned(),
        )
        .await?;
        for (name, perms) in built_in_groups() {
            m.exec_stmt(
                Query::insert()
                    .into_table(PermissionGroups::Table)
                    .columns([
                        PermissionGroups::Name,
                        PermissionGroups::Permissions,
                        PermissionGroups::BuiltIn,
                    ])
                    .values_panic([name.into(), perms.names().join(",").into(), true.into()])
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(RoomDeclines::Table)
                .col(id(RoomDeclines::RoomId))
                .col(id(RoomDeclines::AgentId))
                .col(millis(RoomDeclines::CreatedAt))
                .primary_key(Index::create().col(RoomDeclines::RoomId).col(RoomDeclines::AgentId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("room_declines_agent")
                .table(RoomDeclines::Table)
                .col(RoomDeclines::AgentId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CannedResponses::Table)
                .col(id(CannedResponses::Id).primary_key())
                .col(id(CannedResponses::OwnerId))
                .col(flag(CannedResponses::Shared))
                .col(ColumnDef::new(CannedResponses::Shortcut).string_len(128).not_null())
                .col(text(CannedResponses::Title))
                .col(text(CannedResponses::Body))
                .col(millis(CannedResponses::CreatedAt))
                .col(millis(CannedResponses::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("canned_owner_shortcut")
                .table(CannedResponses::Table)
                .col(CannedResponses::OwnerId)
                .col(CannedResponses::Shortcut)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Settings::Table)
                .col(ColumnDef::new(Settings::Key).string_len(64).not_null().primary_key())
                .col(text(Settings::Value))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgentPresence::Table)
                .col(id(AgentPresence::ReplicaId))
                .col(id(AgentPresence::AgentId))
                .col(ColumnDef::new(AgentPresence::Connections).integer().not_null())
                .col(millis(AgentPresence::LastSeenAt))
                .primary_key(Index::create().col(AgentPresence::ReplicaId).col(AgentPresence::AgentId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("agent_presence_agent")
                .table(AgentPresence::Table)
                .col(AgentPresence::AgentId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Meta::Table)
                .col(ColumnDef::new(Meta::Key).string_len(64).not_null().primary_key())
                .col(text(Meta::Value))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Meta::Table.into_iden(),
            AgentPresence::Table.into_iden(),
            Settings::Table.into_iden(),
            CannedResponses::Table.into_iden(),
            RoomDeclines::Table.into_iden(),
            PermissionGroups::Table.into_iden(),
            Agents::Table.into_iden(),
            Messages::Table.into_iden(),
            Rooms::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

/// The transactional outbox of the broker bus.
struct Outbox;

impl MigrationName for Outbox {
    fn name(&self) -> &str {
        "m20261123_000002_outbox"
    }
}

#[derive(DeriveIden)]
enum OutboxTable {
    #[sea_orm(iden = "outbox")]
    Table,
    Id,
    ReplicaId,
    Payload,
    RoutingKey,
    Envelope,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Outbox {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OutboxTable::Table)
                .col(ColumnDef::new(OutboxTable::Id).big_integer().not_null().auto_increment().primary_key())
                .col(id(OutboxTable::ReplicaId))
                .col(text(OutboxTable::Payload))
                .col(millis(OutboxTable::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_replica_id")
                .table(OutboxTable::Table)
                .col(OutboxTable::ReplicaId)
                .col(OutboxTable::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OutboxTable::Table).to_owned()).await
    }
}

/// Outbox rows carry the versioned bus envelope (proto/livechat/v1/bus.proto)
/// instead of the domain's JSON. `payload` stays for rows written before.
struct OutboxEnvelope;

impl MigrationName for OutboxEnvelope {
    fn name(&self) -> &str {
        "m20261129_000003_outbox_envelope"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelope {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let add = |col: ColumnDef| Table::alter().table(OutboxTable::Table).add_column(col).to_owned();
        m.alter_table(add(ColumnDef::new(OutboxTable::RoutingKey).string().null().to_owned())).await?;
        m.alter_table(add(ColumnDef::new(OutboxTable::Envelope).blob().null().to_owned())).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let drop = |col: OutboxTable| Table::alter().table(OutboxTable::Table).drop_column(col).to_owned();
        m.alter_table(drop(OutboxTable::Envelope)).await?;
        m.alter_table(drop(OutboxTable::RoutingKey)).await
    }
}

/// A messenger customer has at most one open room, whichever core replica
/// handles their next message: a partial unique index (SQLite and
/// PostgreSQL both have them). Duplicates from before (possible through
/// `CreateRoom`) are expired first, keeping each customer's newest.
struct OneOpenRoomPerCustomer;

impl MigrationName for OneOpenRoomPerCustomer {
    fn name(&self) -> &str {
        "m20261129_000004_one_open_room_per_customer"
    }
}

/// The statuses of an open room, as SQL.
const OPEN: &str = "('queued', 'engaged')";

#[async_trait::async_trait]
impl MigrationTrait for OneOpenRoomPerCustomer {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(&format!(
            "UPDATE rooms SET status = 'expired', ended_at = last_message_at \
             WHERE external_id IS NOT NULL AND status IN {OPEN} AND EXISTS ( \
               SELECT 1 FROM rooms newer WHERE newer.channel = rooms.channel \
               AND newer.external_id = rooms.external_id AND newer.status IN {OPEN} AND newer.id > rooms.id)"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX rooms_open_per_customer ON rooms (channel, external_id) \
             WHERE external_id IS NOT NULL AND status IN {OPEN}"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX rooms_open_per_customer").await?;
        Ok(())
    }
}

/// Failed logins, kept where every replica sees them (see `domain::login`).
struct LoginFailures;

impl MigrationName for LoginFailures {
    fn name(&self) -> &str {
        "m20261129_000005_login_failures"
    }
}

#[derive(DeriveIden)]
enum LoginFailuresTable {
    #[sea_orm(iden = "login_failures")]
    Table,
    Key,
    Failures,
    FirstFailedAt,
    LastFailedAt,
    LastAttemptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for LoginFailures {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LoginFailuresTable::Table)
                .col(ColumnDef::new(LoginFailuresTable::Key).string_len(128).not_null().primary_key())
                .col(ColumnDef::new(LoginFailuresTable::Failures).integer().not_null())
                .col(millis(LoginFailuresTable::FirstFailedAt))
                .col(millis(LoginFailuresTable::LastFailedAt))
                .col(millis(LoginFailuresTable::LastAttemptAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LoginFailuresTable::Table).to_owned()).await
    }
}

/// Which client address opened a web room (a keyed digest, never the
/// address), to cap the rooms one address keeps open.
struct RoomAddress;

impl MigrationName for RoomAddress {
    fn name(&self) -> &str {
        "m20261129_000006_room_address"
    }
}

#[derive(DeriveIden)]
enum RoomsAddress {
    #[sea_orm(iden = "rooms")]
    Table,
    VisitorAddress,
    Status,
}

#[async_trait::async_trait]
impl MigrationTrait for RoomAddress {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(RoomsAddress::Table)
                .add_column(ColumnDef::new(RoomsAddress::VisitorAddress).string_len(64).null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("rooms_visitor_address_status")
                .table(RoomsAddress::Table)
                .col(RoomsAddress::VisitorAddress)
                .col(RoomsAddress::Status)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("rooms_visitor_address_status").to_owned()).await?;
        m.alter_table(
            Table::alter().table(RoomsAddress::Table).drop_column(RoomsAddress::VisitorAddress).to_owned(),
        )
        .await
    }
}

/// Drops `rooms_status_last_message`: every send moved the room's entry in
/// it (two more pages written per message, and on PostgreSQL no HOT update
/// of the room row). The expiry sweep, its only reader, finds the open
/// rooms through `rooms_status_created` and filters those by time.
struct NoIndexOnLastMessage;

impl MigrationName for NoIndexOnLastMessage {
    fn name(&self) -> &str {
        "m20261129_000007_no_index_on_last_message"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NoIndexOnLastMessage {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("rooms_status_last_message").table(Rooms::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("rooms_status_last_message")
                .table(Rooms::Table)
                .col(Rooms::Status)
                .col(Rooms::LastMessageAt)
                .to_owned(),
        )
        .await
    }
}

/// `agents.away`: an agent who set themselves away keeps their rooms and is
/// offered no new ones.
struct AgentAway;

impl MigrationName for AgentAway {
    fn name(&self) -> &str {
        "m20261129_000008_agent_away"
    }
}

#[derive(DeriveIden)]
enum AgentsAway {
    #[sea_orm(iden = "agents")]
    Table,
    Away,
}

#[async_trait::async_trait]
impl MigrationTrait for AgentAway {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AgentsAway::Table)
                .add_column(ColumnDef::new(AgentsAway::Away).boolean().not_null().default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(AgentsAway::Table).drop_column(AgentsAway::Away).to_owned()).await
    }
}

/// `rooms.left_offline`: a room opened while no agent was online waits in
/// the queue for the `offline_room_wait_secs` setting, not the idle timeout.
struct RoomLeftOffline;

impl MigrationName for RoomLeftOffline {
    fn name(&self) -> &str {
        "m20261129_000009_room_left_offline"
    }
}

#[derive(DeriveIden)]
enum RoomsOffline {
    #[sea_orm(iden = "rooms")]
    Table,
    LeftOffline,
}

#[async_trait::async_trait]
impl MigrationTrait for RoomLeftOffline {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(RoomsOffline::Table)
                .add_column(ColumnDef::new(RoomsOffline::LeftOffline).boolean().not_null().default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(RoomsOffline::Table).drop_column(RoomsOffline::LeftOffline).to_owned(),
        )
        .await
    }
}

/// `notes`: agents' private notes, per room, in their own table so that
/// message seqs stay gapless for the visitor.
struct Notes;

impl MigrationName for Notes {
    fn name(&self) -> &str {
        "m20261129_000010_notes"
    }
}

#[derive(DeriveIden)]
enum NotesTable {
    #[sea_orm(iden = "notes")]
    Table,
    Id,
    RoomId,
    AuthorId,
    AuthorName,
    Content,
    CreatedAt,
    AfterSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Notes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(NotesTable::Table)
                .col(ColumnDef::new(NotesTable::Id).string_len(36).not_null().primary_key())
                .col(ColumnDef::new(NotesTable::RoomId).string_len(36).not_null())
                .col(ColumnDef::new(NotesTable::AuthorId).string_len(36).not_null())
                .col(ColumnDef::new(NotesTable::AuthorName).string().not_null())
                .col(ColumnDef::new(NotesTable::Content).text().not_null())
                .col(ColumnDef::new(NotesTable::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(NotesTable::AfterSeq).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("notes_room_created")
                .table(NotesTable::Table)
                .col(NotesTable::RoomId)
                .col(NotesTable::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(NotesTable::Table).to_owned()).await
    }
}

/// The visitor's rating of an ended room, kept on the room; indexed by
/// when it came, for the supervisors' report.
struct Ratings;

impl MigrationName for Ratings {
    fn name(&self) -> &str {
        "m20261129_000011_ratings"
    }
}

#[derive(DeriveIden)]
enum RoomsRating {
    #[sea_orm(iden = "rooms")]
    Table,
    RatingScore,
    RatingComment,
    RatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Ratings {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        m.alter_table(
            Table::alter()
                .table(RoomsRating::Table)
                .add_column(ColumnDef::new(RoomsRating::RatingScore).small_integer().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RoomsRating::Table)
                .add_column(ColumnDef::new(RoomsRating::RatingComment).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RoomsRating::Table)
                .add_column(ColumnDef::new(RoomsRating::RatedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("rooms_rated_at")
                .table(RoomsRating::Table)
                .col(RoomsRating::RatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("rooms_rated_at").to_owned()).await?;
        for col in [RoomsRating::RatingScore, RoomsRating::RatingComment, RoomsRating::RatedAt] {
            m.alter_table(Table::alter().table(RoomsRating::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

/// `webhooks`, `webhook_deliveries` and `webhook_queues`: endpoints, one
/// row per event and endpoint written with the change (so a committed
/// change is never lost to an endpoint), and one row per endpoint and room
/// that says how many of its deliveries wait and when the oldest is due:
/// what the dispatcher claims, so finding work costs the number of due
/// queues, never the backlog behind a failing endpoint.
struct Webhooks;

impl MigrationName for Webhooks {
    fn name(&self) -> &str {
        "m20261129_000012_webhooks"
    }
}

#[derive(DeriveIden)]
enum WebhooksTable {
    #[sea_orm(iden = "webhooks")]
    Table,
    Id,
    Url,
    Events,
    Enabled,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    #[sea_orm(iden = "webhook_deliveries")]
    Table,
    Id,
    DeliveryId,
    WebhookId,
    RoomKey,
    Topic,
    Body,
    State,
    Attempts,
    CreatedAt,
    NextAttemptAt,
    LastAttemptAt,
    LastStatus,
    LastError,
    LastResponseMs,
}

#[derive(DeriveIden)]
enum Queues {
    #[sea_orm(iden = "webhook_queues")]
    Table,
    WebhookId,
    RoomKey,
    Pending,
    DueAt,
    LeaseUntil,
    LeaseToken,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Webhooks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WebhooksTable::Table)
                .col(ColumnDef::new(WebhooksTable::Id).string_len(36).not_null().primary_key())
                .col(ColumnDef::new(WebhooksTable::Url).text().not_null())
                .col(ColumnDef::new(WebhooksTable::Events).text().not_null())
                .col(ColumnDef::new(WebhooksTable::Enabled).boolean().not_null())
                .col(ColumnDef::new(WebhooksTable::Secret).text().not_null())
                .col(ColumnDef::new(WebhooksTable::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(ColumnDef::new(Deliveries::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Deliveries::DeliveryId).string_len(36).not_null().unique_key())
                .col(ColumnDef::new(Deliveries::WebhookId).string_len(36).not_null())
                .col(ColumnDef::new(Deliveries::RoomKey).string_len(36).not_null())
                .col(ColumnDef::new(Deliveries::Topic).string_len(32).not_null())
                .col(ColumnDef::new(Deliveries::Body).text().not_null())
                .col(ColumnDef::new(Deliveries::State).string_len(16).not_null())
                .col(ColumnDef::new(Deliveries::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(Deliveries::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Deliveries::NextAttemptAt).big_integer().not_null())
                .col(ColumnDef::new(Deliveries::LastAttemptAt).big_integer().not_null().default(0))
                .col(ColumnDef::new(Deliveries::LastStatus).integer().not_null().default(0))
                .col(ColumnDef::new(Deliveries::LastError).text().null())
                .col(ColumnDef::new(Deliveries::LastResponseMs).integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Queues::Table)
                .col(ColumnDef::new(Queues::WebhookId).string_len(36).not_null())
                .col(ColumnDef::new(Queues::RoomKey).string_len(36).not_null())
                .col(ColumnDef::new(Queues::Pending).big_integer().not_null())
                .col(ColumnDef::new(Queues::DueAt).big_integer().not_null())
                .col(ColumnDef::new(Queues::LeaseUntil).big_integer().not_null().default(0))
                .col(ColumnDef::new(Queues::LeaseToken).string_len(36).null())
                .col(ColumnDef::new(Queues::UpdatedAt).big_integer().not_null())
                .primary_key(Index::create().col(Queues::WebhookId).col(Queues::RoomKey))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("webhook_queues_due").table(Queues::Table).col(Queues::DueAt).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_order")
                .table(Deliveries::Table)
                .col(Deliveries::WebhookId)
                .col(Deliveries::RoomKey)
                .col(Deliveries::State)
                .col(Deliveries::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_listed")
                .table(Deliveries::Table)
                .col(Deliveries::WebhookId)
                .col(Deliveries::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_room")
                .table(Deliveries::Table)
                .col(Deliveries::RoomKey)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Queues::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Deliveries::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(WebhooksTable::Table).to_owned()).await
    }
}

/// `audit_log`: administrative actions, newest read first, filtered by
/// action or actor, pruned by age.
struct AuditLog;

impl MigrationName for AuditLog {
    fn name(&self) -> &str {
        "m20261129_000013_audit_log"
    }
}

#[derive(DeriveIden)]
enum Audit {
    #[sea_orm(iden = "audit_log")]
    Table,
    Id,
    At,
    ActorId,
    ActorName,
    Address,
    Action,
    Target,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for AuditLog {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Audit::Table)
                .col(ColumnDef::new(Audit::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Audit::At).big_integer().not_null())
                .col(ColumnDef::new(Audit::ActorId).string_len(36).null())
                .col(ColumnDef::new(Audit::ActorName).string().null())
                .col(ColumnDef::new(Audit::Address).string_len(64).null())
                .col(ColumnDef::new(Audit::Action).string_len(32).not_null())
                .col(ColumnDef::new(Audit::Target).string().null())
                .col(ColumnDef::new(Audit::Details).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("audit_log_at").table(Audit::Table).col(Audit::At).to_owned())
            .await?;
        m.create_index(
            Index::create()
                .name("audit_log_action")
                .table(Audit::Table)
                .col(Audit::Action)
                .col(Audit::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_log_actor")
                .table(Audit::Table)
                .col(Audit::ActorId)
                .col(Audit::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Audit::Table).to_owned()).await
    }
}

/// `rooms.erased_at`: when the room's visitor data was erased (by an
/// admin's request or the retention setting), so that the retention rule
/// erases each room once.
struct RoomErased;

impl MigrationName for RoomErased {
    fn name(&self) -> &str {
        "m20261129_000014_room_erased"
    }
}

#[derive(DeriveIden)]
enum RoomsErased {
    #[sea_orm(iden = "rooms")]
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for RoomErased {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(RoomsErased::Table)
                .add_column(ColumnDef::new(RoomsErased::ErasedAt).big_integer().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(RoomsErased::Table).drop_column(RoomsErased::ErasedAt).to_owned())
            .await
    }
}

/// `agents.capacity` (None: the workspace default) and
/// `agents.last_assigned_at`, for automatic assignment's load limit and
/// its round robin.
struct AgentCapacity;

impl MigrationName for AgentCapacity {
    fn name(&self) -> &str {
        "m20261129_000015_agent_capacity"
    }
}

#[derive(DeriveIden)]
enum AgentsCapacity {
    #[sea_orm(iden = "agents")]
    Table,
    Capacity,
    LastAssignedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for AgentCapacity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AgentsCapacity::Table)
                .add_column(ColumnDef::new(AgentsCapacity::Capacity).integer().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AgentsCapacity::Table)
                .add_column(
                    ColumnDef::new(AgentsCapacity::LastAssignedAt).big_integer().not_null().default(0),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [AgentsCapacity::Capacity, AgentsCapacity::LastAssignedAt] {
            m.alter_table(Table::alter().table(AgentsCapacity::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
