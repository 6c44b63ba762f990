-- Foundation: legal entities, roles, staff, residents and premises, sessions and sign-in
-- codes, the catalog and orders with their history and the notification outbox.
-- Timestamps are integer seconds since the Unix epoch (UTC). Money is integer kopecks.

create table legal_entities (
    legal_entity_id integer primary key,
    name text not null,
    kind text not null check (kind in ('management', 'partner')),
    inn text not null default '',
    details text not null default ''
);

create table roles (
    role_id integer primary key,
    name text not null unique,
    orders_scope text not null check (orders_scope in ('none', 'assigned', 'all')),
    orders_edit integer not null default 0,
    clients_chat integer not null default 0,
    finance integer not null default 0,
    admin integer not null default 0,
    -- which events notify this role, by which channel (JSON); used by the notifications issue
    notification_settings text not null default '{}'
);

create table staff (
    staff_id integer primary key,
    email text not null unique,
    full_name text not null,
    password_hash text not null,
    role_id integer not null references roles (role_id),
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    active integer not null default 1,
    created_at integer not null
);

create table premises (
    premises_id integer primary key,
    address text not null
);

create table residents (
    resident_id integer primary key,
    phone text not null unique,
    full_name text not null,
    email text,
    blocked integer not null default 0,
    current_premises_id integer references premises (premises_id),
    created_at integer not null
);

create table resident_premises (
    resident_id integer not null references residents (resident_id),
    premises_id integer not null references premises (premises_id),
    primary key (resident_id, premises_id)
);

-- A session token is stored only as its SHA-256.
create table sessions (
    token_hash text primary key,
    staff_id integer references staff (staff_id),
    resident_id integer references residents (resident_id),
    created_at integer not null,
    expires_at integer not null,
    check ((staff_id is null) <> (resident_id is null))
);
create index sessions_staff on sessions (staff_id);
create index sessions_resident on sessions (resident_id);

create table login_codes (
    login_code_id integer primary key,
    phone text not null,
    code_hash text not null,
    created_at integer not null,
    expires_at integer not null,
    attempts integer not null default 0,
    used_at integer
);
create index login_codes_phone on login_codes (phone, login_code_id);

-- Failed sign-in attempts and code requests, counted per account and per address.
create table auth_attempts (
    auth_attempt_id integer primary key,
    attempt_key text not null,
    at integer not null
);
create index auth_attempts_key on auth_attempts (attempt_key, at);

-- Text messages in demo mode, readable at /dev/sms.
create table dev_sms (
    dev_sms_id integer primary key,
    phone text not null,
    body text not null,
    sent_at integer not null
);

create table price_items (
    price_item_id integer primary key,
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    name text not null,
    unit text not null,
    price_kopecks integer not null check (price_kopecks >= 0),
    active integer not null default 1
);
create index price_items_entity on price_items (legal_entity_id);

create table categories (
    category_id integer primary key,
    name text not null,
    background text not null,
    icon text not null,
    position integer not null default 0
);

create table services (
    service_id integer primary key,
    category_id integer not null references categories (category_id),
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    name text not null,
    short_description text not null default '',
    description text not null default '',
    cover text not null default '',
    default_assignee_id integer references staff (staff_id),
    -- «Возможность оплаты картой при создании заказа»
    prepaid integer not null default 0,
    -- «Чат с оператором, до оформления заявки»
    preorder_chat integer not null default 0,
    refunds_allowed integer not null default 1,
    -- «Запретить закрывать заявку, если не приложен документ»
    require_attachment integer not null default 0,
    published integer not null default 1,
    sla_take_hours integer,
    sla_done_hours integer,
    -- the order form: a JSON array of fields (see catalog::form)
    form_fields text not null default '[]'
);
create index services_category on services (category_id);

create table orders (
    order_id integer primary key,
    status text not null check (status in ('waiting', 'in_progress', 'done', 'cancelled')),
    is_draft integer not null default 0,
    service_id integer not null references services (service_id),
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    resident_id integer not null references residents (resident_id),
    premises_id integer not null references premises (premises_id),
    assignee_id integer references staff (staff_id),
    -- the answers of the order form with their labels at ordering time (JSON)
    answers text not null default '[]',
    visit_at integer,
    created_at integer not null,
    updated_at integer not null,
    -- optimistic concurrency: every change increments it
    version integer not null default 1,
    -- list figures kept current by the services that change them
    total_kopecks integer not null default 0,
    all_paid integer not null default 0,
    costs_kopecks integer not null default 0,
    refund_kopecks integer not null default 0,
    refund_state text check (refund_state in ('requested', 'processing', 'succeeded')),
    rating integer check (rating between 1 and 5),
    unread_client_messages integer not null default 0,
    -- last change a resident can see, and when the resident last opened the order
    resident_changed_at integer not null default 0,
    resident_seen_at integer not null default 0
);
create index orders_status on orders (status, order_id);
create index orders_assignee on orders (assignee_id, order_id);
create index orders_service on orders (service_id, order_id);
create index orders_entity on orders (legal_entity_id, order_id);
create index orders_resident on orders (resident_id, premises_id, order_id);
create index orders_created on orders (created_at, order_id);

create table order_history (
    history_id integer primary key,
    order_id integer not null references orders (order_id),
    at integer not null,
    staff_id integer references staff (staff_id),
    resident_id integer references residents (resident_id),
    kind text not null,
    from_status text,
    to_status text,
    from_assignee_id integer references staff (staff_id),
    to_assignee_id integer references staff (staff_id),
    comment text not null default '',
    -- shown to the resident in the request's history
    visible_to_resident integer not null default 0
);
create index order_history_order on order_history (order_id, history_id);

-- Events to deliver (notifications issue); written in the same transaction as the change.
create table outbox (
    outbox_id integer primary key,
    event text not null,
    order_id integer references orders (order_id),
    staff_id integer references staff (staff_id),
    resident_id integer references residents (resident_id),
    payload text not null default '{}',
    created_at integer not null,
    processed_at integer
);
create index outbox_pending on outbox (processed_at, outbox_id);

create table app_meta (
    meta_key text primary key,
    meta_value text not null
);
