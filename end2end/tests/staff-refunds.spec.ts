import { test, expect, Page } from "@playwright/test";
import { hydrated, open, paidKeys, residentPage, signInStaff } from "./helpers";

// Each test pays on the provider's page and waits for its delayed refund (5 s, then the
// webhook): more than the default 30 s when the whole suite shares two cores.
test.describe.configure({ timeout: 60_000 });

async function takeIntoWork(page: Page, number: string) {
  await open(page, `/staff/orders/${number}`);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: "В работе" });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("В работе");
}

/** Reloads the card until the refund is back on the card. */
async function waitRefunded(page: Page, number: string) {
  await expect(async () => {
    await open(page, `/staff/orders/${number}`);
    await expect(page.locator(".refund-summary")).toHaveText("Возвраты по заказу", { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

test("staff refund one line with a lowered quantity: processing, succeeded, then «Выполнено»", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000008");
  const number = await paidKeys(resident.page, "keys@example.ru");

  await signInStaff(page, "dispatcher@demo.ru");
  await takeIntoWork(page, number);
  await hydrated(page);
  const invoice = page.locator("[data-invoice]").first();
  await invoice.getByText("Действия").click();
  await invoice.getByRole("button", { name: "Возврат" }).click();
  const modal = page.getByRole("dialog", { name: /Возврат по счёту/ });
  await expect(modal.getByTestId("refund-total")).toHaveText(/1\s200,00\s₽/);
  await modal.getByLabel("Частичный возврат").check();
  await modal.getByLabel("Вернуть «Ключ от домофона»").check();
  await modal.getByLabel("Количество «Ключ от домофона»").fill("4");
  await expect(modal.getByText("количество не больше 3")).toBeVisible();
  await modal.getByLabel("Количество «Ключ от домофона»").fill("1");
  await expect(modal.getByTestId("refund-total")).toHaveText(/400,00\s₽/);
  await modal.getByLabel("Причина возврата (видна только сотрудникам)").fill("Один ключ не подошёл");
  await modal.getByRole("button", { name: "Продолжить" }).click();
  await expect(modal).toBeHidden();
  await expect(page.locator(".refund-summary")).toHaveText("Возврат обрабатывается платёжной системой");

  await waitRefunded(page, number);
  await page.getByRole("button", { name: "Подробнее" }).click();
  const details = page.getByRole("dialog", { name: "Возврат" });
  await expect(details).toContainText("Деньги возвращены");
  await expect(details).toContainText("Один ключ не подошёл");
  await details.getByRole("button", { name: "Закрыть" }).click();
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: "Выполнено" });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("Выполнено");

  await open(resident.page, `/requests/${number}`);
  await expect(resident.page.locator("li.invoice")).toContainText("Осуществлен частичный возврат");
  await resident.ctx.close();
});

test("a resident's full request is rejected with a reason and cannot be sent again", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000009");
  const r = resident.page;
  const number = await paidKeys(r, "keys@example.ru");
  await open(r, `/requests/${number}`);
  await r.getByRole("button", { name: "Возврат платежа" }).click();
  await r.getByLabel("Причина").fill("Передумал");
  await r.getByRole("button", { name: "Отправить", exact: true }).click();
  await expect(r.getByText(/Запрос на возврат 1\s200,00\s₽ отправлен/)).toBeVisible();

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  await expect(page.locator(".refund-summary.red")).toContainText("Клиент запросил возврат");
  await open(page, `/staff/orders?q=${number}`);
  await expect(page.locator(`tr[data-order="${number}"] .money.red`)).toContainText("1 200,00".replace(" ", "\u00a0"));
  await open(page, `/staff/orders/${number}`);
  await page.getByRole("button", { name: "Подробнее" }).click();
  const details = page.getByRole("dialog", { name: "Возврат" });
  await details.getByRole("button", { name: "Отклонить" }).click();
  await details.getByLabel("Причина отказа (её увидит клиент)").fill("Ключи уже изготовлены");
  await details.getByRole("button", { name: "Сохранить" }).click();
  await expect(details).toBeHidden();

  await open(r, `/requests/${number}`);
  await expect(r.getByTestId("refund-rejected")).toHaveText("Возврат отклонён: Ключи уже изготовлены");
  await expect(r.getByRole("button", { name: "Возврат платежа" })).toHaveCount(0);
  await resident.ctx.close();
});

test("a resident's partial request is processed by staff and succeeds", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000010");
  const r = resident.page;
  const number = await paidKeys(r, "keys@example.ru");
  await open(r, `/requests/${number}`);
  await r.getByRole("button", { name: "Возврат платежа" }).click();
  await r.getByLabel("Частичный возврат").check();
  await r.getByLabel("Сумма возврата, ₽").fill("5000");
  await r.getByLabel("Причина").fill("Нужен только один ключ");
  await r.getByRole("button", { name: "Отправить", exact: true }).click();
  await expect(r.getByRole("alert")).toContainText("Не больше");
  await r.getByLabel("Сумма возврата, ₽").fill("800");
  await r.getByRole("button", { name: "Отправить", exact: true }).click();
  await expect(r.getByText(/Запрос на возврат 800,00\s₽ отправлен/)).toBeVisible();

  await signInStaff(page, "dispatcher@demo.ru");
  await takeIntoWork(page, number);
  await hydrated(page);
  await page.getByRole("button", { name: "Подробнее" }).click();
  await page.getByRole("dialog", { name: "Возврат" }).getByRole("button", { name: "Обработать" }).click();
  const modal = page.getByRole("dialog", { name: /Возврат по счёту/ });
  await expect(modal).toContainText(/Клиент просит вернуть 800,00\s₽/);
  await expect(modal.getByLabel("Причина возврата (видна только сотрудникам)")).toHaveValue("Нужен только один ключ");
  await modal.getByLabel("Вернуть «Ключ от домофона»").check();
  await modal.getByLabel("Количество «Ключ от домофона»").fill("2");
  await expect(modal.getByTestId("refund-total")).toHaveText(/800,00\s₽/);
  await modal.getByRole("button", { name: "Продолжить" }).click();
  await expect(modal).toBeHidden();
  await waitRefunded(page, number);

  await open(r, `/requests/${number}`);
  await expect(r.getByText("Запрос на возврат обработан")).toBeVisible();
  await expect(r.locator("li.invoice")).toContainText("Осуществлен частичный возврат");
  await resident.ctx.close();
});
