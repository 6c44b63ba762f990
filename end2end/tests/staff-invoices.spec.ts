import { test, expect, Page, Browser, BrowserContext } from "@playwright/test";
import { hydrated, open, signInResident, signInStaff, visitIn } from "./helpers";

/** A resident on a phone in a context of their own. */
async function residentPage(browser: Browser, phone: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: "ru-RU" });
  const page = await ctx.newPage();
  await signInResident(page, phone);
  return { ctx, page };
}

/** The resident orders «Устранение засора»; returns the request number. */
async function orderClog(page: Page): Promise<string> {
  await open(page, "/?q=засор");
  await page.getByRole("link", { name: /Устранение засора/ }).click();
  await expect(page.getByRole("heading", { name: "Устранение засора" })).toBeVisible();
  await hydrated(page);
  await page.locator('[data-field="where"] select').selectOption("Раковина");
  await page.locator('[data-field="visit"] input').fill(visitIn(7, "09:00"));
  await page.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(page).toHaveURL(/\/requests\/\d+$/);
  return page.url().match(/\/requests\/(\d+)$/)![1];
}

/** Picks a price-list item in the invoice modal by its name. */
async function chooseItem(modal: ReturnType<Page["getByRole"]>, name: string) {
  const select = modal.getByLabel("Позиция прайс-листа");
  const value = await select.locator("option", { hasText: name }).getAttribute("value");
  await select.selectOption(value!);
}

/** Money as shown (non-breaking spaces), as a pattern. */
function rub(text: string): RegExp {
  return new RegExp(text.replace(/ /g, "\\s"));
}

async function setStatus(page: Page, status: string) {
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: status });
  await form.getByRole("button", { name: "Сохранить" }).click();
}

async function invoiceAction(page: Page, invoice: string, action: string) {
  const card = page.locator(`[data-invoice="${invoice}"]`);
  await card.getByText("Действия").click();
  await card.getByRole("button", { name: action }).click();
}

/** Pays on the sandbox's hosted page. */
async function payOnSandbox(page: Page, card: string) {
  await expect(page).toHaveURL(/\/sandbox\/pay\//);
  await page.getByLabel("Номер карты").fill(card);
  await page.getByLabel("Срок (ММ/ГГ)").fill("12/30");
  await page.getByLabel("CVC").fill("123");
  await page.getByRole("button", { name: /^Оплатить/ }).click();
}

test("postpaid: the operator builds an invoice in the modal, the resident pays by card, the order is done", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000005");
  const number = await orderClog(resident.page);

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  await setStatus(page, "В работе");
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("В работе");
  await hydrated(page);

  await page.getByRole("button", { name: "Новый счёт" }).click();
  const modal = page.getByRole("dialog", { name: "Новый счёт" });
  await expect(modal).toBeVisible();
  await chooseItem(modal, "Прочистка засора");
  await modal.getByLabel("Количество").fill("2");
  await modal.getByRole("combobox", { name: "Скидка", exact: true }).selectOption({ label: "Процент" });
  await modal.getByLabel("Размер скидки").fill("10");
  await expect(modal.locator(".line-preview")).toContainText(rub("2 160,00"));
  await expect(modal.getByTestId("invoice-total")).toHaveText(rub("2 160,00 ₽"));
  await modal.getByRole("button", { name: "Добавить позицию" }).click();
  await chooseItem(modal, "Выезд сантехника");
  await expect(modal.getByTestId("invoice-total")).toHaveText(rub("2 660,00 ₽"));
  // Only the provider's price list is offered.
  await expect(modal.getByLabel("Позиция прайс-листа").locator("option", { hasText: "Замена розетки" })).toHaveCount(0);
  await modal.getByRole("button", { name: "Сохранить" }).click();
  await expect(modal).toBeHidden();

  const invoice = page.locator("[data-invoice]").first();
  await expect(invoice).toContainText("Не выставлен");
  await expect(invoice).toContainText(rub("2 660,00 ₽"));
  const invoiceNo = (await invoice.getAttribute("data-invoice"))!;
  await expect(page.getByRole("button", { name: "Новый счёт" })).toBeDisabled();
  await invoiceAction(page, invoiceNo, "Активировать в ЛК");
  await expect(page.locator(`[data-invoice="${invoiceNo}"]`)).toContainText("Выставлен в ЛК, ожидает оплаты");

  // The resident pays with a test card and saves it.
  const r = resident.page;
  await open(r, `/requests/${number}`);
  await r.getByRole("link", { name: "Оплатить" }).click();
  await expect(r.getByTestId("to-pay")).toHaveText(rub("2 660,00 ₽"));
  await hydrated(r);
  await r.getByLabel("E-mail для чека").fill("client5@example.ru");
  await r.getByLabel("Сохранить карту").check();
  await r.getByRole("button", { name: "Перейти к оплате" }).click();
  await payOnSandbox(r, "4242 4242 4242 4242");
  await expect(r).toHaveURL(new RegExp(`/requests/${number}\\?payment=\\d+`));
  await expect(r.getByTestId("payment-result")).toHaveText(/Оплата прошла/, { timeout: 20_000 });
  await expect(r.locator(`li.invoice[data-invoice="${invoiceNo}"]`)).toContainText("Оплачено");
  await expect(r.getByRole("link", { name: "Оплатить" })).toHaveCount(0);
  await open(r, "/profile");
  await expect(r.getByText("•••• 4242")).toBeVisible();
  await resident.ctx.close();

  // Staff see it paid; «Выполнено» is now allowed.
  await open(page, `/staff/orders/${number}`);
  await expect(page.locator(`[data-invoice="${invoiceNo}"]`)).toContainText("Оплачен картой");
  await setStatus(page, "Выполнено");
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("Выполнено");
  await page.getByRole("tab", { name: "История" }).click();
  await expect(page.getByText("Счёт оплачен картой")).toBeVisible();
  await open(page, `/staff/orders?q=${number}`);
  await expect(page.locator(`tr[data-order="${number}"] .money.green`)).toContainText(rub("2 660,00"));
});

test("cash payment, then cancel; no new invoice while one is unpaid", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000006");
  const number = await orderClog(resident.page);
  await resident.ctx.close();

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  await page.getByRole("button", { name: "Новый счёт" }).click();
  const modal = page.getByRole("dialog", { name: "Новый счёт" });
  await chooseItem(modal, "Выезд сантехника");
  // A discount above the line is refused in the modal, with the same rule as on the server.
  await modal.getByRole("combobox", { name: "Скидка", exact: true }).selectOption({ label: "Сумма, ₽" });
  await modal.getByLabel("Размер скидки").fill("600");
  await expect(modal.locator(".line-preview")).toContainText("Скидка больше суммы строки");
  await modal.getByLabel("Размер скидки").fill("100");
  await expect(modal.getByTestId("invoice-total")).toHaveText(rub("400,00 ₽"));
  await modal.getByRole("button", { name: "Сохранить" }).click();
  await expect(modal).toBeHidden();

  const invoice = page.locator("[data-invoice]").first();
  const invoiceNo = (await invoice.getAttribute("data-invoice"))!;
  await expect(page.getByText("Нельзя добавить новый счёт, пока не оплачен предыдущий")).toBeVisible();
  await expect(page.getByRole("button", { name: "Новый счёт" })).toBeDisabled();

  await invoiceAction(page, invoiceNo, "Отметить как оплаченный");
  await expect(page.locator(`[data-invoice="${invoiceNo}"]`)).toContainText("Оплачен (отмечен вручную)");
  await expect(page.getByRole("button", { name: "Новый счёт" })).toBeEnabled();
  await invoiceAction(page, invoiceNo, "Отменить");
  await expect(page.locator(`[data-invoice="${invoiceNo}"]`)).toContainText("Отменён");
  await page.getByRole("tab", { name: "История" }).click();
  await expect(page.getByText("Счёт отмечен как оплаченный")).toBeVisible();
  await expect(page.getByText("Счёт отменён")).toBeVisible();
});

test("prepaid: the invoice comes with the order; a declined card, then a card with a confirmation code", async ({ browser }) => {
  const { ctx, page } = await residentPage(browser, "+79000000007");
  await open(page, "/?q=домофон");
  await page.getByRole("link", { name: /Изготовление ключа от домофона/ }).click();
  await hydrated(page);
  await expect(page.getByText("Оплата картой сразу при оформлении заявки")).toBeVisible();
  await page.locator('[data-field="count"] input').fill("2");
  await page.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(page).toHaveURL(/\/requests\/\d+\/pay\/\d+$/);
  const number = page.url().match(/\/requests\/(\d+)\/pay/)![1];
  await expect(page.getByTestId("to-pay")).toHaveText(rub("800,00 ₽"));
  await hydrated(page);

  await page.getByLabel("E-mail для чека").fill("client7@example.ru");
  await page.getByRole("button", { name: "Перейти к оплате" }).click();
  await payOnSandbox(page, "4000 0000 0000 0002");
  await expect(page.getByTestId("payment-result")).toContainText("Оплата не прошла: Банк отклонил платёж", { timeout: 20_000 });
  await expect(page.getByRole("link", { name: "Оплатить" })).toBeVisible();

  await page.getByRole("link", { name: "Оплатить" }).click();
  await hydrated(page);
  await expect(page.getByLabel("E-mail для чека")).toHaveValue("client7@example.ru");
  await page.getByRole("button", { name: "Перейти к оплате" }).click();
  await payOnSandbox(page, "4000 0000 0000 3220");
  await page.getByLabel("Код подтверждения из СМС банка").fill("1234");
  await page.getByRole("button", { name: "Подтвердить" }).click();
  await expect(page).toHaveURL(new RegExp(`/requests/${number}\\?payment=`));
  await expect(page.getByTestId("payment-result")).toContainText("Оплата прошла", { timeout: 20_000 });
  await expect(page.locator("li.invoice")).toContainText("Оплачено");
  await ctx.close();
});
