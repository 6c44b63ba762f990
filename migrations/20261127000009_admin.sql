-- Administration: every administrative change recorded (who, when, before -> after), the
-- reports of imports, and service cover images uploaded by administrators.

create table admin_audit (
    audit_id integer primary key,
    staff_id integer not null references staff (staff_id),
    at integer not null,
    -- role, staff, legal_entity, price_item, price_list, category, service, resident,
    -- premises, commission_term, acquiring_rate
    entity text not null,
    entity_id integer,
    -- create, update, delete, import, password, activate, deactivate, block, unblock
    action text not null,
    -- what it is about, as a person reads it: «Роль «Диспетчер»»
    summary text not null,
    before_json text,
    after_json text
);
create index admin_audit_recent on admin_audit (audit_id);
create index admin_audit_entity on admin_audit (entity, entity_id, audit_id);

-- The outcome of an import (price list, residents): counts and rejected rows (JSON).
create table admin_imports (
    import_id text primary key,
    staff_id integer not null references staff (staff_id),
    kind text not null check (kind in ('price_list', 'residents')),
    created_at integer not null,
    report text not null
);

create table covers (
    cover_id text primary key,
    file_name text not null,
    content_type text not null,
    stored_name text not null,
    size_bytes integer not null,
    created_by integer not null references staff (staff_id),
    created_at integer not null
);

create index staff_role on staff (role_id);
create index premises_address on premises (address);
