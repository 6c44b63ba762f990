-- The resident app: service prices shown in the catalog, photos attached to the order
-- form, idempotent submission, the remembered «Заявки» sort, and ratings with text.

-- Which price-list items a service is priced by (the provider's list); the catalog
-- shows the cheapest active one as «от …».
create table service_prices (
    service_id integer not null references services (service_id),
    price_item_id integer not null references price_items (price_item_id),
    primary key (service_id, price_item_id)
);

-- Photos a resident uploads for an order form; bound to the order at submission.
create table uploads (
    upload_id integer primary key,
    resident_id integer not null references residents (resident_id),
    order_id integer references orders (order_id),
    field_key text not null default '',
    file_name text not null,
    content_type text not null,
    size_bytes integer not null,
    -- name of the file under <data>/files/
    stored_name text not null unique,
    created_at integer not null
);
create index uploads_order on uploads (order_id, upload_id);
create index uploads_resident on uploads (resident_id, order_id);

-- A resident's submission carries a key generated when the form opened: a double tap
-- or a retried request finds the order already created instead of making a second one.
alter table orders add column submit_key text;
create unique index orders_submit_key on orders (resident_id, submit_key) where submit_key is not null;

alter table orders add column rating_comment text not null default '';
alter table orders add column rated_at integer;

-- «Сначала непрочитанные» / «Сначала новые» / «Сначала старые», remembered per resident.
alter table residents add column requests_sort text not null default 'unread';
