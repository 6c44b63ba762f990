import { test, expect } from "@playwright/test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hydrated, open, signInResident, signInStaff } from "./helpers";

test("a role with «Назначенные мне» only, and its new employee sees only their own order", async ({ page, browser }) => {
  await signInStaff(page, "admin@demo.ru");
  await open(page, "/staff/admin/roles");
  const fresh = page.locator('section.role[data-role="Новая роль"]');
  await fresh.getByLabel("Название роли").fill("Мастер участка e2e");
  await fresh.getByLabel("Раздел «Заказы»").selectOption({ label: "Назначенные мне" });
  await fresh.getByLabel("Заказы: редактирование").check();
  await fresh.getByRole("button", { name: "Создать роль" }).click();
  await expect(page.locator('section.role[data-role="Мастер участка e2e"]')).toBeVisible();

  await open(page, "/staff/admin/staff");
  const form = page.locator('form[data-form="new-staff"]');
  await form.getByLabel("E-mail").fill("e2e-master@demo.ru");
  await form.getByLabel("ФИО").fill("Егор Тестов");
  await form.locator("select[name=role_id]").selectOption({ label: "Мастер участка e2e" });
  await form.locator("select[name=legal_entity_id]").selectOption({ label: "ООО «СантехСервис»" });
  await form.getByLabel("Пароль для первого входа").fill("e2e-pass-123");
  await form.getByRole("button", { name: "Добавить сотрудника" }).click();
  await expect(page.locator('tr[data-staff="e2e-master@demo.ru"]')).toContainText("Мастер участка e2e");

  // The administrator gives him one order.
  await open(page, "/staff/orders");
  const listRows = page.locator("table.grid tbody tr");
  const mine = (await listRows.nth(0).getAttribute("data-order"))!;
  const other = (await listRows.nth(1).getAttribute("data-order"))!;
  await open(page, `/staff/orders/${mine}`);
  const state = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  const assignee = state.getByLabel("Ответственный");
  const before = await assignee.inputValue();
  await assignee.selectOption({ label: "Егор Тестов" });
  const saved = page.waitForResponse((r) => r.url().includes("/api/change_order_state"));
  await state.getByRole("button", { name: "Сохранить" }).click();
  expect((await saved).status()).toBe(200);

  const ctx = await browser.newContext({ locale: "ru-RU" });
  const him = await ctx.newPage();
  await signInStaff(him, "e2e-master@demo.ru", "e2e-pass-123");
  await expect(him).toHaveURL(/\/staff\/orders\/mine$/);
  await hydrated(him);
  const rows = him.locator("table tbody tr");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(mine);
  await expect(him.getByRole("link", { name: "Все", exact: true })).toHaveCount(0);
  await open(him, `/staff/orders/${other}`);
  await expect(him.getByText("Не найдено").first()).toBeVisible();
  await ctx.close();

  // The order goes back to whom it belonged (other tests use the demo data as it was).
  await open(page, `/staff/orders/${mine}`);
  const again = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await again.getByLabel("Ответственный").selectOption(before);
  const restored = page.waitForResponse((r) => r.url().includes("/api/change_order_state"));
  await again.getByRole("button", { name: "Сохранить" }).click();
  expect((await restored).status()).toBe(200);

  // Every change is in the journal.
  await open(page, "/staff/admin/audit");
  await expect(page.locator("table.audit")).toContainText("Роль «Мастер участка e2e»");
  await expect(page.locator("table.audit")).toContainText("Сотрудник Егор Тестов");
});

test("a new category and service with a three-field form reach the resident, who orders it", async ({ page, browser }) => {
  await signInStaff(page, "admin@demo.ru");
  await open(page, "/staff/admin/catalog");
  const cat = page.locator('form[data-form="new-category"]');
  await cat.getByLabel("Название").fill("Лифты e2e");
  await cat.getByLabel("Фон: цвет (#1f6feb) или картинка").fill("#336699");
  await cat.getByLabel("Иконка").fill("🛗");
  await cat.getByLabel("Порядок").fill("0");
  await cat.getByRole("button", { name: "Добавить категорию" }).click();
  await expect(page.locator('input[aria-label="Название"][value="Лифты e2e"]')).toHaveCount(1);

  await page.getByRole("link", { name: "Новая услуга" }).click();
  await expect(page.getByRole("heading", { name: "Новая услуга" })).toBeVisible();
  await hydrated(page);
  await page.getByLabel("Категория").selectOption({ label: "Лифты e2e" });
  await page.getByLabel("Исполнитель (юрлицо)").selectOption({ label: "ООО «СантехСервис»" });
  await page.getByLabel("Название", { exact: true }).fill("Ремонт кабины e2e");
  await page.getByLabel("Краткое описание").fill("Приедем в течение дня");
  await page.getByLabel("Опубликована (видна жителям)").check();
  await page.getByLabel(/^Замена смесителя/).check();

  const kind = page.getByLabel("Тип нового поля");
  await page.getByRole("button", { name: "Добавить поле" }).click();
  await page.getByLabel("Подпись поля 1").fill("Что сломано");
  await page.getByLabel("Поле 1 обязательное").check();
  await kind.selectOption({ label: "Выбор одного" });
  await page.getByRole("button", { name: "Добавить поле" }).click();
  await page.getByLabel("Подпись поля 2").fill("Этаж");
  await page.getByLabel("Варианты поля 2").fill("1\n2\n3");
  await kind.selectOption({ label: "Число" });
  await page.getByRole("button", { name: "Добавить поле" }).click();
  await page.getByLabel("Подпись поля 3").fill("Сколько кабин");
  // The preview is the resident's form.
  const preview = page.getByTestId("form-preview");
  await expect(preview).toContainText("Что сломано");
  await expect(preview).toContainText("Сколько кабин");
  await page.getByRole("button", { name: "Сохранить услугу" }).click();
  await expect(page).toHaveURL(/\/staff\/admin\/services\/\d+$/);
  await expect(page.getByRole("heading", { name: "Ремонт кабины e2e" })).toBeVisible();

  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: "ru-RU" });
  const resident = await ctx.newPage();
  await signInResident(resident, "+79000000006");
  await open(resident, "/");
  await resident.getByRole("link", { name: /Лифты e2e/ }).click();
  await resident.getByRole("link", { name: /Ремонт кабины e2e/ }).click();
  await expect(resident.getByRole("heading", { name: "Ремонт кабины e2e" })).toBeVisible();
  await hydrated(resident);
  await resident.locator('[data-field="f1"] input, [data-field="f1"] textarea').first().fill("Не закрываются двери");
  await resident.locator('[data-field="f2"] select').selectOption("3");
  await resident.locator('[data-field="f3"] input').fill("1");
  await resident.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(resident).toHaveURL(/\/requests\/\d+$/);
  await expect(resident.getByText("Не закрываются двери")).toBeVisible();
  await ctx.close();
});

test("a price list exported from one partner is imported into a new one", async ({ page }) => {
  await signInStaff(page, "admin@demo.ru");
  await open(page, "/staff/admin/entities");
  await page.getByRole("link", { name: "ООО «СантехСервис»" }).click();
  await expect(page.getByRole("heading", { name: "ООО «СантехСервис»" })).toBeVisible();
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Выгрузить в Excel" }).click();
  const file = path.join(os.tmpdir(), `price-list-${Date.now()}.xlsx`);
  await (await download).saveAs(file);
  expect(fs.statSync(file).size).toBeGreaterThan(3000);

  await open(page, "/staff/admin/entities");
  await page.getByLabel("Название").fill("ООО «Импорт e2e»");
  await page.getByLabel("ИНН").fill("7700000001");
  await page.getByRole("button", { name: "Добавить" }).click();
  await page.getByRole("link", { name: "ООО «Импорт e2e»" }).click();
  await expect(page.getByRole("heading", { name: "ООО «Импорт e2e»" })).toBeVisible();
  await expect(page.locator("tr[data-item]")).toHaveCount(0);
  await page.locator('form.upload input[type="file"]').setInputFiles(file);
  await page.getByRole("button", { name: "Загрузить прайс-лист" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Импорт:" })).toContainText("добавлено 5");
  await expect(page.locator('tr[data-item="Прочистка засора"] input[aria-label="Цена"]')).toHaveValue(/1\s200,00/);
  fs.unlinkSync(file);
});
