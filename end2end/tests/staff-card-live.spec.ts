import { test, expect, Page, Locator } from "@playwright/test";
import { hydrated, open, paidKeys, residentPage, signInStaff, watchForCrashes } from "./helpers";

// Issue 16 §9: the order card's wasm once died after «Продолжить» in the refund modal while
// live events reloaded the card (a disposed signal touched from the old, still shown card).
// This drives the card, its modals and live events together many times and fails on any
// error of the page. Each round pays nothing new, but refunds wait for the provider (5 s).
test.describe.configure({ timeout: 180_000 });

const ROUNDS = 15;

/** «Действия» → `action` on an invoice (choosing closes the menu). */
async function invoiceAction(invoice: Locator, action: string) {
  await invoice.getByText("Действия").click();
  await invoice.getByRole("button", { name: action }).click();
  await expect(invoice.locator("details.actions .menu")).toBeHidden();
}

/** Another employee changing the order through the API (the assignee, back and forth)
 * until stopped: every change is a live event for the open card. */
function keepChanging(page: Page, origin: string, orderId: number): { stop: () => Promise<number> } {
  let running = true;
  let changes = 0;
  const headers = { Origin: origin };
  const loop = (async () => {
    while (running) {
      const card = await page.request.post("/api/order_card", { form: { order_id: String(orderId) }, headers });
      expect(card.status(), await card.text()).toBe(200);
      const c = await card.json();
      const assignee = c.assignee_id == null ? String(c.assignees[0][0]) : "";
      const saved = await page.request.post("/api/change_order_state", {
        form: { order_id: String(orderId), version: String(c.version), status: "in_progress", assignee_id: assignee, comment: "" },
        headers,
      });
      // A refund finishing meanwhile may move the version on: that answer is a refusal, not a crash.
      if (saved.status() === 200) changes++;
      await page.waitForTimeout(150);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return changes;
    },
  };
}

test("the order card survives its modals and live events together, round after round", async ({ page, browser, baseURL }) => {
  const resident = await residentPage(browser, "+79000000007");
  const number = await paidKeys(resident.page, "live@example.ru");
  await resident.ctx.close();

  const crashes = watchForCrashes(page);
  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: "В работе" });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("В работе");
  await page.locator("body[data-live=open]").waitFor({ state: "attached" });

  const otherCtx = await browser.newContext({ locale: "ru-RU" });
  const other = await otherCtx.newPage();
  await signInStaff(other, "admin@demo.ru");
  const changer = keepChanging(other, baseURL!, Number(number));

  const paidId = await page.locator("[data-invoice]").first().getAttribute("data-invoice");
  const paid = page.locator(`[data-invoice="${paidId}"]`);
  for (let round = 1; round <= ROUNDS; round++) {
    // A new invoice through its modal, then cancelled through «Действия».
    await page.getByRole("button", { name: "Новый счёт" }).click();
    const invoiceModal = page.getByRole("dialog", { name: "Новый счёт" });
    await invoiceModal.getByLabel("Позиция прайс-листа").selectOption({ index: 1 });
    await expect(invoiceModal.getByTestId("invoice-total")).not.toHaveText("");
    await invoiceModal.getByRole("button", { name: "Сохранить" }).click();
    await expect(invoiceModal).toBeHidden();
    const freshId = await page
      .locator(`[data-invoice]:not([data-invoice="${paidId}"])`)
      .filter({ hasText: "Не выставлен" })
      .getAttribute("data-invoice");
    const fresh = page.locator(`[data-invoice="${freshId}"]`);
    await invoiceAction(fresh, "Отменить");
    await expect(fresh).toContainText("Отменён");
    await expect(page.getByRole("button", { name: "Новый счёт" })).toBeEnabled();

    // 20 ₽ of one key back through the refund modal, while the previous refunds complete.
    await invoiceAction(paid, "Возврат");
    const modal = page.getByRole("dialog", { name: /Возврат по счёту/ });
    await modal.getByLabel("Частичный возврат").check();
    await modal.getByLabel("Вернуть «Ключ от домофона»").check();
    await modal.getByLabel("Количество «Ключ от домофона»").fill("1");
    await modal.getByLabel("Стоимость за единицу «Ключ от домофона»").fill("20");
    await expect(modal.getByTestId("refund-total")).toHaveText(/^20,00\s₽$/);
    await modal.getByLabel("Причина возврата (видна только сотрудникам)").fill(`Проверка ${round}`);
    await modal.getByRole("button", { name: "Продолжить" }).click();
    await expect(modal).toBeHidden();
    expect(crashes, `round ${round}`).toEqual([]);
  }
  const changes = await changer.stop();
  expect(changes, "live changes made by the other employee").toBeGreaterThan(ROUNDS);

  // Everything was applied, and the card still answers.
  await expect(async () => {
    await open(page, `/staff/orders/${number}`);
    await expect(page.locator(".refund-summary")).toHaveText("Возвраты по заказу", { timeout: 1_000 });
  }).toPass({ timeout: 40_000 });
  await page.getByRole("button", { name: "Подробнее" }).click();
  await expect(page.getByRole("dialog", { name: "Возврат" }).locator("[data-refund]")).toHaveCount(ROUNDS);
  expect(crashes).toEqual([]);
  await otherCtx.close();
});

test("a panic in the browser app shows a message with «Обновить страницу»", async ({ page }) => {
  // A page whose markup does not match what the app renders cannot be hydrated: the app
  // panics (as any bug would). Only this test's copy of the page is altered.
  await page.route("**/staff/login", async (route) => {
    const response = await route.fetch();
    const html = (await response.text()).replace(/<form/, "неожиданный текст<form");
    await route.fulfill({ response, body: html });
  });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/staff/login");
  const overlay = page.getByRole("alertdialog");
  await expect(overlay).toContainText("Что-то пошло не так. Обновите страницу.");
  expect(errors.length).toBeGreaterThan(0);

  // The button reloads the page (now unaltered), which works again.
  await page.unroute("**/staff/login");
  await overlay.getByRole("button", { name: "Обновить страницу" }).click();
  await hydrated(page);
  await expect(page.getByRole("alertdialog")).toHaveCount(0);
  await expect(page.getByLabel("E-mail")).toBeVisible();
});
