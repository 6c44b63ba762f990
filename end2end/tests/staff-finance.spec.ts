import { test, expect, Page } from "@playwright/test";
import { hydrated, open, signInResident, signInStaff, visitIn } from "./helpers";

/** Money as shown (non-breaking spaces), as a pattern. */
function rub(text: string): RegExp {
  return new RegExp(text.replace(/ /g, "\\s"));
}

/** A resident orders «Устранение засора» (СантехСервис); returns the request number. */
async function orderClog(page: Page): Promise<string> {
  await open(page, "/?q=засор");
  await page.getByRole("link", { name: /Устранение засора/ }).click();
  await hydrated(page);
  await page.locator('[data-field="where"] select').selectOption("Раковина");
  await page.locator('[data-field="visit"] input').fill(visitIn(7, "09:00"));
  await page.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(page).toHaveURL(/\/requests\/\d+$/);
  return page.url().match(/\/requests\/(\d+)$/)![1];
}

test("a cash payment reaches «Взаиморасчеты»: the period, the order's entries and the .xlsx export", async ({ page, browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: "ru-RU" });
  const resident = await ctx.newPage();
  await signInResident(resident, "+79000000008");
  const number = await orderClog(resident);
  await ctx.close();

  // The administrator (orders and «Финансы») takes the order, invoices it and takes cash.
  await signInStaff(page, "admin@demo.ru");
  await open(page, `/staff/orders/${number}`);
  const state = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await state.getByLabel("Статус").selectOption({ label: "В работе" });
  await state.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("В работе");
  await page.getByRole("button", { name: "Новый счёт" }).click();
  const modal = page.getByRole("dialog", { name: "Новый счёт" });
  const select = modal.getByLabel("Позиция прайс-листа");
  await select.selectOption((await select.locator("option", { hasText: "Прочистка засора" }).getAttribute("value"))!);
  await modal.getByRole("button", { name: "Сохранить" }).click();
  const invoice = page.locator("[data-invoice]").first();
  await expect(invoice).toBeVisible();
  await invoice.getByText("Действия").click();
  await invoice.getByRole("button", { name: "Отметить как оплаченный" }).click();
  await expect(invoice).toContainText("Оплачен");

  // «Затраты»: 10 % commission of 1 200 ₽, and the way to the details.
  await page.reload();
  await hydrated(page);
  await expect(page.locator("[data-costs]")).toContainText(rub("120,00 ₽"));
  await page.getByRole("link", { name: "Взаиморасчеты по заказу" }).click();
  await expect(page.getByRole("heading", { name: `Заказ № ${number} — взаиморасчеты` })).toBeVisible();
  const entry = page.locator('tr[data-kind="cash_payment"]');
  await expect(entry).toContainText("Оплата наличными");
  await expect(entry).toContainText(rub("1 200,00 ₽"));
  await expect(entry).toContainText(rub("-120,00 ₽"));
  await expect(page.getByText("Сверка: расхождений нет")).toBeVisible();

  // The month, the partner, its totals and the order in it.
  await page.getByRole("link", { name: "Взаиморасчеты" }).first().click();
  await expect(page.getByRole("heading", { name: "Взаиморасчеты" })).toBeVisible();
  const month = (await page.locator("[data-period]").textContent())!;
  await page.getByRole("link", { name: "ООО «СантехСервис»" }).click();
  await expect(page.getByRole("heading", { name: `ООО «СантехСервис» — ${month}` })).toBeVisible();
  await hydrated(page);
  await expect(page.locator('[data-total="cash"]')).not.toHaveText(/^0,00\s₽$/);
  await expect(page.locator('[data-differences="0"]')).toHaveText("Расхождений нет");
  // The running month cannot be confirmed yet.
  await expect(page.getByRole("button", { name: "Подтвердить и закрыть период" })).toBeDisabled();
  await expect(page.getByText("Закрыть можно только завершившийся месяц")).toBeVisible();

  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Выгрузить в Excel" }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^settlement-.*\.xlsx$/);
  const bytes = await (await file.createReadStream()).toArray();
  const data = Buffer.concat(bytes as Buffer[]);
  expect(data.subarray(0, 2).toString()).toBe("PK");
  expect(data.length).toBeGreaterThan(3000);

  await page.getByRole("link", { name: `№ ${number}` }).click();
  await expect(page.getByRole("heading", { name: `Заказ № ${number} — взаиморасчеты` })).toBeVisible();
  await expect(page.getByRole("link", { name: "Открыть заказ" })).toBeVisible();
});

test("the accountant sets a partner's commission; a mistyped percent is refused", async ({ page }) => {
  await signInStaff(page, "accountant@demo.ru");
  await expect(page).toHaveURL(/\/staff\/finance$/);
  await page.getByRole("link", { name: "Комиссии и эквайринг" }).click();
  await expect(page.getByRole("heading", { name: "Комиссии и эквайринг" })).toBeVisible();
  await hydrated(page);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить условия" }) });
  await form.getByLabel("Юридическое лицо").selectOption({ label: "ООО «ЧистоДом»" });
  await form.getByLabel("Процент").fill("семь");
  await form.getByRole("button", { name: "Сохранить условия" }).click();
  await expect(form.getByRole("alert")).toHaveText("Процент должен быть числом, например 7,5");
  await form.getByLabel("Процент").fill("12,5");
  await form.getByLabel("Минимум, ₽").fill("100");
  const tomorrow = new Date(Date.now() + 2 * 86400000).toISOString().slice(0, 10);
  await form.getByLabel("Действует с").fill(tomorrow);
  await form.getByRole("button", { name: "Сохранить условия" }).click();
  const shown = tomorrow.split("-").reverse().join(".");
  const row = page.locator("tr", { hasText: shown }).filter({ hasText: "ООО «ЧистоДом»" });
  await expect(row).toContainText("12,5 %");
  await expect(row).toContainText(rub("100,00 ₽"));
});
