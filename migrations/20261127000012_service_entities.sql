-- The (service, legal entity) pairs that occur in orders. A search word of a service's
-- name stands for that service's token only where the list's legal entity filter can
-- meet it (orders::repo::SearchContext); an order keeps the legal entity it was made
-- with, and a service may move to another provider later, so the pairs come from the
-- orders, not from `services`. Pairs are only ever added (one more alternative in a
-- query is harmless; a missing one would lose orders).

create table service_entities (
    service_id integer not null references services (service_id),
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    primary key (service_id, legal_entity_id)
) without rowid;

insert or ignore into service_entities (service_id, legal_entity_id)
    select distinct service_id, legal_entity_id from orders;

create trigger orders_service_entity_insert after insert on orders
begin
    insert or ignore into service_entities (service_id, legal_entity_id)
        values (new.service_id, new.legal_entity_id);
end;

create trigger orders_service_entity_update after update of service_id, legal_entity_id on orders
begin
    insert or ignore into service_entities (service_id, legal_entity_id)
        values (new.service_id, new.legal_entity_id);
end;
