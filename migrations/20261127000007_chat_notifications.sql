-- Chat, notifications and Web Push: order chat and pre-order dialogues, the in-app
-- notification centre, push subscriptions and their delivery queue.

-- A resident's question about a service before ordering («Чат с оператором, до
-- оформления заявки»). Turned into an order draft, it continues in that order's chat.
create table dialogues (
    dialogue_id integer primary key,
    resident_id integer not null references residents (resident_id),
    service_id integer not null references services (service_id),
    premises_id integer references premises (premises_id),
    order_id integer references orders (order_id),
    created_at integer not null,
    updated_at integer not null,
    -- resident messages no staff member has read yet
    unread_for_staff integer not null default 0,
    staff_read_message_id integer not null default 0,
    resident_read_message_id integer not null default 0
);
create index dialogues_updated on dialogues (updated_at, dialogue_id);
create index dialogues_resident on dialogues (resident_id, service_id, dialogue_id);

-- A chat message: in an order's chat, in a dialogue, or both (a dialogue's messages join
-- its order's chat when the dialogue becomes an order). Written by staff or the resident.
create table messages (
    message_id integer primary key,
    order_id integer references orders (order_id),
    dialogue_id integer references dialogues (dialogue_id),
    staff_id integer references staff (staff_id),
    resident_id integer references residents (resident_id),
    body text not null,
    -- the sender's key: a retried send stores one message
    client_key text,
    created_at integer not null,
    check (order_id is not null or dialogue_id is not null),
    check ((staff_id is null) <> (resident_id is null))
);
create index messages_order on messages (order_id, message_id);
create index messages_dialogue on messages (dialogue_id, message_id);
create unique index messages_client_key on messages (client_key) where client_key is not null;

-- Photos attached to chat messages (uploaded first, bound to the message when sent).
create table message_photos (
    photo_id integer primary key,
    message_id integer references messages (message_id),
    staff_id integer references staff (staff_id),
    resident_id integer references residents (resident_id),
    file_name text not null,
    content_type text not null,
    size_bytes integer not null,
    stored_name text not null unique,
    created_at integer not null
);
create index message_photos_message on message_photos (message_id, photo_id);

-- The newest client message a staff member has read in the order's chat.
alter table orders add column staff_read_message_id integer not null default 0;

-- In-app notifications. `recipient` is 's<staff_id>' or 'r<resident_id>'; one per outbox
-- event and recipient.
create table notifications (
    notification_id integer primary key,
    recipient text not null,
    outbox_id integer not null references outbox (outbox_id),
    event text not null,
    order_id integer references orders (order_id),
    dialogue_id integer references dialogues (dialogue_id),
    text text not null,
    created_at integer not null,
    read_at integer,
    unique (outbox_id, recipient)
);
create index notifications_recipient on notifications (recipient, notification_id);
create index notifications_unread on notifications (recipient, read_at);

alter table outbox add column dialogue_id integer references dialogues (dialogue_id);

-- A browser's Web Push subscription (the endpoint and its keys), bound to the session
-- that made it: pushes go only while that session lasts (signing out stops them).
create table push_subscriptions (
    subscription_id integer primary key,
    recipient text not null,
    session_hash text not null,
    endpoint text not null unique,
    p256dh text not null,
    auth text not null,
    created_at integer not null
);
create index push_subscriptions_recipient on push_subscriptions (recipient);

-- One push message per outbox event and subscription; sent by the jobs worker, retried.
create table push_messages (
    push_id integer primary key,
    subscription_id integer not null references push_subscriptions (subscription_id) on delete cascade,
    outbox_id integer not null references outbox (outbox_id),
    payload text not null,
    created_at integer not null,
    sent_at integer,
    attempts integer not null default 0,
    next_attempt_at integer not null default 0,
    last_error text,
    unique (outbox_id, subscription_id)
);
create index push_messages_pending on push_messages (sent_at, next_attempt_at);
