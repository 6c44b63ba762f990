import { test, expect, Page, Browser } from "@playwright/test";
import { hydrated, open, signInResident, signInStaff, visitIn } from "./helpers";

// A tiny valid PNG (1×1) for the photo field.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

async function choosePremises(page: Page, address: string) {
  await page.getByRole("link", { name: "Профиль" }).click();
  const choice = page.getByRole("button", { name: address });
  await choice.click();
  await expect(choice).toHaveAttribute("aria-pressed", "true");
}

/** Submits «Устранение засора» with a photo, after fixing a validation error. */
async function orderClogRemoval(page: Page): Promise<string> {
  await open(page, "/");
  await page.getByRole("link", { name: /Сантехника/ }).click();
  await expect(page.getByRole("heading", { name: "Сантехника" })).toBeVisible();
  await page.getByRole("link", { name: /Устранение засора/ }).click();
  await expect(page.getByRole("heading", { name: "Устранение засора" })).toBeVisible();
  await hydrated(page);
  await expect(page.getByText("Исполнитель: ООО «СантехСервис»")).toBeVisible();

  // Sending an empty form shows the errors next to the fields and creates nothing.
  await page.getByRole("button", { name: "Отправить заявку" }).click();
  const where = page.locator('[data-field="where"]');
  await expect(where.getByRole("alert")).toHaveText("Заполните это поле");
  await expect(page).toHaveURL(/\/services\/\d+$/);

  await where.locator("select").selectOption("Ванна");
  await page.locator('[data-field="visit"] input').fill(visitIn(5, "10:30"));
  await page.getByLabel("Добавить фото").setInputFiles({ name: "засор.png", mimeType: "image/png", buffer: PNG });
  await expect(page.locator('[data-field="photo"] figure img')).toHaveCount(1);
  await page.getByRole("button", { name: "Отправить заявку" }).click();

  await expect(page).toHaveURL(/\/requests\/\d+$/);
  const number = page.url().match(/\/requests\/(\d+)$/)![1];
  await expect(page.getByRole("heading", { name: `Заявка № ${number}` })).toBeVisible();
  await expect(page.getByTestId("request-status")).toHaveText("Ожидание");
  await expect(page.getByText("Фото: 1")).toBeVisible();
  await expect(page.locator("img.thumb")).toHaveCount(1);
  return number;
}

async function staffSetsStatus(browser: Browser, number: string, status: string) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const staff = await context.newPage();
  await signInStaff(staff, "dispatcher@demo.ru");
  await open(staff, `/staff/orders/${number}`);
  const form = staff.locator("form", { has: staff.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: status });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(staff.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) }).getByText(status)).toBeVisible();
  await context.close();
}

test("browse a category and find a service by a word of its order form, with its minimum price", async ({ page }) => {
  await signInResident(page, "+79000000004");
  await page.getByRole("link", { name: /Двери и замки/ }).click();
  await expect(page.getByRole("link", { name: /Замена замка/ })).toBeVisible();
  await expect(page.getByText("Замена личинки или замка целиком")).toBeVisible();

  await page.getByRole("link", { name: "Сервис" }).click();
  await hydrated(page);
  await page.getByLabel("Поиск услуг").fill("модель");
  await page.getByLabel("Поиск услуг").press("Enter");
  await expect(page).toHaveURL(/\?q=/);
  const results = page.getByRole("list", { name: "Найденные услуги" });
  await expect(results.getByRole("link")).toHaveCount(2);
  await expect(results.getByRole("link", { name: /Замена смесителя/ })).toContainText(/от 450,00\s₽/);
  await expect(results.getByRole("link", { name: /Замена замка/ })).toContainText(/от 3\s500,00\s₽/);

  // Case, «ё» and a typo are forgiven.
  await page.getByLabel("Поиск услуг").fill("СЧЕТЧИКИ");
  await page.getByLabel("Поиск услуг").press("Enter");
  await expect(results.getByRole("link")).toHaveCount(1);
  await expect(results.getByRole("link")).toContainText("Установка счётчиков воды");
});

test("order with a photo, find it in «Заявки», follow premises, unread first after staff change", async ({ page, browser }) => {
  await signInResident(page, "+79000000001");
  await choosePremises(page, "ул. Ленина, д. 10, кв. 15");
  const older = await orderClogRemoval(page);
  const newer = await orderClogRemoval(page);

  await page.getByRole("link", { name: "Заявки" }).click();
  await hydrated(page);
  await page.getByLabel("Поиск заявок").fill(older);
  await page.getByLabel("Поиск заявок").press("Enter");
  await expect(page.locator("a.request")).toHaveCount(1);
  await expect(page.locator("a.request")).toContainText(`№ ${older}`);
  await expect(page.locator("a.request")).toContainText("Устранение засора");

  // The other premises has its own list.
  await choosePremises(page, "ул. Ленина, д. 10, кладовая 3");
  await page.getByRole("link", { name: "Заявки" }).click();
  await expect(page.getByRole("link", { name: "ул. Ленина, д. 10, кладовая 3" })).toBeVisible();
  await expect(page.locator("a.request", { hasText: `№ ${older}` })).toHaveCount(0);
  await choosePremises(page, "ул. Ленина, д. 10, кв. 15");

  await staffSetsStatus(browser, older, "В работе");

  await open(page, "/requests");
  const sort = page.getByLabel("Сортировка");
  await sort.selectOption({ label: "Сначала новые" });
  await expect(page.locator("a.request").first()).toContainText(`№ ${newer}`);
  await sort.selectOption({ label: "Сначала непрочитанные" });
  const first = page.locator("a.request").first();
  await expect(first).toContainText(`№ ${older}`);
  await expect(first).toContainText("Новое");
  await expect(first).toContainText("В работе");

  // The choice is remembered; opening the request marks it read.
  await open(page, "/requests");
  await expect(page.getByLabel("Сортировка")).toHaveValue("unread");
  await page.locator("a.request", { hasText: `№ ${older}` }).click();
  await expect(page.getByTestId("request-status")).toHaveText("В работе");
  await expect(page.getByText("Статус: В работе")).toBeVisible();
  await open(page, "/requests");
  await expect(page.locator("a.request", { hasText: `№ ${older}` })).not.toContainText("Новое");
});

test("rate a done request and change the rating; staff see it", async ({ page, browser }) => {
  await signInResident(page, "+79000000001");
  // Demo data gives this resident done requests on one of the premises.
  let done = page.locator("a.request", { hasText: "Выполнено" }).first();
  for (const address of ["ул. Ленина, д. 10, кв. 15", "ул. Ленина, д. 10, кладовая 3"]) {
    await choosePremises(page, address);
    await page.getByRole("link", { name: "Заявки" }).click();
    await expect(page.getByRole("heading", { name: "Заявки" })).toBeVisible();
    await expect(page.locator("a.request").first()).toBeVisible();
    if ((await done.count()) > 0) break;
  }
  await expect(done).toBeVisible();
  const number = (await done.locator(".request-no").innerText()).replace(/\D/g, "");
  await done.click();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Оцените выполнение заявки" })).toBeVisible();
  await page.getByRole("radio", { name: "4 из 5" }).click();
  await page.getByLabel("Отзыв").fill("Быстро и аккуратно");
  await page.getByRole("button", { name: "Оценить" }).click();
  await expect(page.getByRole("status")).toHaveText("Спасибо! Оценка сохранена");

  await open(page, `/requests/${number}`);
  await expect(page.getByRole("heading", { name: "Ваша оценка" })).toBeVisible();
  await expect(page.getByRole("radio", { name: "4 из 5" })).toHaveAttribute("aria-checked", "true");
  await expect(page.getByLabel("Отзыв")).toHaveValue("Быстро и аккуратно");
  await page.getByRole("radio", { name: "2 из 5" }).click();
  await page.getByLabel("Отзыв").fill("Пришли позже");
  await page.getByRole("button", { name: "Изменить оценку" }).click();
  await expect(page.getByRole("status")).toHaveText("Спасибо! Оценка сохранена");

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const staff = await context.newPage();
  await signInStaff(staff, "admin@demo.ru");
  await open(staff, `/staff/orders/${number}`);
  await expect(staff.getByLabel("Оценка клиента: 2 из 5")).toBeVisible();
  await expect(staff.getByText("Пришли позже")).toBeVisible();
  await context.close();
});
