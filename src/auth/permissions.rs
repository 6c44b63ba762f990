//! Roles and permissions (seed §1): the one check used by every server function and by the
//! UI to hide or grey out what the server would refuse.

use serde::{Deserialize, Serialize};

/// Which orders a role sees in «Заказы».
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrdersScope {
    /// No «Заказы» section.
    None,
    /// Only «Назначенные мне».
    Assigned,
    /// «Все» (and «Назначенные мне»).
    All,
}

impl OrdersScope {
    pub fn as_db(self) -> &'static str {
        match self {
            OrdersScope::None => "none",
            OrdersScope::Assigned => "assigned",
            OrdersScope::All => "all",
        }
    }

    pub fn from_db(s: &str) -> OrdersScope {
        match s {
            "all" => OrdersScope::All,
            "assigned" => OrdersScope::Assigned,
            _ => OrdersScope::None,
        }
    }
}

/// The switches of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub orders: OrdersScope,
    /// «Заказы: редактирование»
    pub orders_edit: bool,
    /// «Чат с клиентами» (pre-order chats)
    pub clients_chat: bool,
    /// «Финансы»
    pub finance: bool,
    /// Manages roles, staff, services and the catalog.
    pub admin: bool,
}

/// Something a staff member may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// «Заказы» → «Все»
    ViewAllOrders,
    /// «Заказы» → «Назначенные мне»
    ViewAssignedOrders,
    /// Change status or assignee, invoices, chat, files, comments.
    EditOrders,
    ClientsChat,
    Finance,
    Administer,
}

/// How residents may be looked up for a new order (see [`Permissions::resident_search`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidentSearch {
    /// Part of a name, or a full phone number.
    NameOrPhone,
    /// A full phone number only.
    FullPhoneOnly,
}

impl ResidentSearch {
    /// Why a typed query is refused, if it is; the same check in the form and on the server.
    pub fn query_error(self, query: &str) -> Option<&'static str> {
        let query = query.trim();
        match self {
            ResidentSearch::NameOrPhone if query.chars().count() < 2 => {
                Some("Введите хотя бы 2 символа телефона или ФИО")
            }
            ResidentSearch::NameOrPhone => None,
            ResidentSearch::FullPhoneOnly => crate::auth::model::Phone::parse(query)
                .err()
                .map(|_| "Введите полный номер телефона клиента, например +7 900 000-00-01"),
        }
    }

    /// The search box's hint.
    pub fn placeholder(self) -> &'static str {
        match self {
            ResidentSearch::NameOrPhone => "Телефон или ФИО",
            ResidentSearch::FullPhoneOnly => "Полный номер телефона",
        }
    }
}

impl Permissions {
    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::ViewAllOrders => self.orders == OrdersScope::All,
            Action::ViewAssignedOrders => self.orders != OrdersScope::None,
            Action::EditOrders => self.orders != OrdersScope::None && self.orders_edit,
            Action::ClientsChat => self.clients_chat,
            Action::Finance => self.finance,
            Action::Administer => self.admin,
        }
    }

    /// May this staff member (`me`) see an order assigned to `assignee`?
    pub fn can_see_order(&self, me: i64, assignee: Option<i64>) -> bool {
        match self.orders {
            OrdersScope::All => true,
            OrdersScope::Assigned => assignee == Some(me),
            OrdersScope::None => false,
        }
    }

    /// May this staff member change an order assigned to `assignee`?
    pub fn can_edit_order(&self, me: i64, assignee: Option<i64>) -> bool {
        self.orders_edit && self.can_see_order(me, assignee)
    }

    /// How this staff member may look residents up to create an order for them. A role
    /// that sees only its own orders finds a resident only by their full phone number
    /// (someone who called it in), never by browsing names and addresses.
    pub fn resident_search(&self) -> ResidentSearch {
        if self.allows(Action::ViewAllOrders) {
            ResidentSearch::NameOrPhone
        } else {
            ResidentSearch::FullPhoneOnly
        }
    }

    /// May this staff member, of legal entity `my_entity`, create an order for a service
    /// provided by `service_entity`? «Назначенные мне» only: services of his own entity.
    pub fn can_order_service(&self, my_entity: i64, service_entity: i64) -> bool {
        self.allows(Action::EditOrders)
            && (self.allows(Action::ViewAllOrders) || my_entity == service_entity)
    }

    /// Where a staff member lands after sign-in.
    pub fn home_path(&self) -> &'static str {
        if self.allows(Action::ViewAllOrders) {
            "/staff/orders"
        } else if self.allows(Action::ViewAssignedOrders) {
            "/staff/orders/mine"
        } else if self.finance {
            "/staff/finance"
        } else if self.admin {
            "/staff/admin"
        } else {
            "/staff/profile"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(orders: OrdersScope, edit: bool) -> Permissions {
        Permissions {
            orders,
            orders_edit: edit,
            clients_chat: false,
            finance: false,
            admin: false,
        }
    }

    #[test]
    fn all_orders_role_sees_everything() {
        let p = role(OrdersScope::All, false);
        assert!(p.allows(Action::ViewAllOrders));
        assert!(p.allows(Action::ViewAssignedOrders));
        assert!(p.can_see_order(1, Some(2)));
        assert!(p.can_see_order(1, None));
        assert!(!p.allows(Action::EditOrders), "viewer cannot edit");
        assert!(!p.can_edit_order(1, Some(1)));
    }

    #[test]
    fn assigned_only_role_sees_only_its_orders() {
        let p = role(OrdersScope::Assigned, true);
        assert!(!p.allows(Action::ViewAllOrders));
        assert!(p.allows(Action::ViewAssignedOrders));
        assert!(p.can_see_order(7, Some(7)));
        assert!(!p.can_see_order(7, Some(8)));
        assert!(!p.can_see_order(7, None));
        assert!(p.can_edit_order(7, Some(7)));
        assert!(!p.can_edit_order(7, Some(8)));
        assert_eq!(p.home_path(), "/staff/orders/mine");
    }

    #[test]
    fn no_orders_section_means_no_orders_and_no_editing() {
        let p = Permissions {
            orders: OrdersScope::None,
            orders_edit: true,
            clients_chat: true,
            finance: true,
            admin: false,
        };
        assert!(!p.allows(Action::ViewAssignedOrders));
        assert!(
            !p.allows(Action::EditOrders),
            "edit switch alone does not open orders"
        );
        assert!(!p.can_see_order(1, Some(1)));
        assert!(p.allows(Action::Finance));
        assert!(p.allows(Action::ClientsChat));
        assert!(!p.allows(Action::Administer));
        assert_eq!(p.home_path(), "/staff/finance");
    }

    #[test]
    fn assigned_only_role_orders_for_its_entity_and_finds_residents_by_full_phone() {
        let mine = role(OrdersScope::Assigned, true);
        assert!(mine.can_order_service(2, 2));
        assert!(!mine.can_order_service(2, 1), "another entity's service");
        assert!(!role(OrdersScope::Assigned, false).can_order_service(2, 2));
        assert_eq!(mine.resident_search(), ResidentSearch::FullPhoneOnly);
        let phone_only = mine.resident_search();
        assert_eq!(phone_only.query_error("+7 900 000-00-01"), None);
        assert_eq!(phone_only.query_error("89000000001"), None);
        for browsing in ["Иванов", "+7900", "ул. Ленина", "", "7"] {
            assert!(phone_only.query_error(browsing).is_some(), "{browsing}");
        }
        // «Все» is unchanged: any entity's service, names as well as phones.
        let all = role(OrdersScope::All, true);
        assert!(all.can_order_service(2, 1));
        assert!(!role(OrdersScope::All, false).can_order_service(1, 1));
        assert_eq!(all.resident_search(), ResidentSearch::NameOrPhone);
        assert_eq!(all.resident_search().query_error("Ив"), None);
        assert!(all.resident_search().query_error("И").is_some());
    }

    #[test]
    fn scope_round_trips_through_the_database_spelling() {
        for s in [OrdersScope::None, OrdersScope::Assigned, OrdersScope::All] {
            assert_eq!(OrdersScope::from_db(s.as_db()), s);
        }
    }
}
