import { test, expect, Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { hydrated, open, signInStaff } from "./helpers";

/** Opens the first order in a status through the list's own filter. */
async function openFirst(page: Page, status: string, extra = "") {
  await open(page, `/staff/orders?status=${status}${extra}`);
  const first = page.locator("table.grid tbody tr").first();
  await expect(first).toBeVisible();
  const number = (await first.getAttribute("data-order"))!;
  await first.getByRole("link").first().click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toBeVisible();
  await hydrated(page);
  return number;
}

async function saveState(page: Page, opts: { status?: string; assignee?: string; comment?: string }) {
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  if (opts.status) await form.getByLabel("Статус").selectOption({ label: opts.status });
  if (opts.assignee) await form.getByLabel("Ответственный").selectOption({ label: opts.assignee });
  if (opts.comment !== undefined) await form.getByLabel("Комментарий").fill(opts.comment);
  await form.getByRole("button", { name: "Сохранить" }).click();
}

test("search and filters narrow the list and live in the URL", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await hydrated(page);
  await page.getByLabel("Поиск").fill("семенова");
  await page.getByRole("button", { name: "Найти" }).click();
  await expect(page).toHaveURL(/q=%D1%81/);
  const rows = page.locator("table.grid tbody tr");
  await expect(rows.first()).toBeVisible();
  const clients = await rows.locator("td:nth-child(4)").allInnerTexts();
  expect(clients.length).toBeGreaterThan(0);
  expect(clients.every((c) => c.includes("Семёнова"))).toBe(true);

  await page.getByLabel("Статус").selectOption({ label: "Ожидание" });
  await page.getByRole("button", { name: "Найти" }).click();
  await expect(page).toHaveURL(/status=waiting/);
  const statuses = await rows.locator("td:nth-child(2)").allInnerTexts();
  // A status may carry the «Просрочен» mark of the service's SLA.
  expect(statuses.every((s) => s.replace("Просрочен", "").trim() === "Ожидание")).toBe(true);

  // The link alone reproduces the view.
  const url = page.url();
  await page.goto("/staff/orders");
  await page.goto(url);
  await expect(page.getByLabel("Поиск")).toHaveValue("семенова");
  expect(await rows.locator("td:nth-child(4)").allInnerTexts()).toEqual(clients.filter((_, i) => statuses[i] !== undefined));
});

test("export downloads a valid .xlsx with exactly the filtered rows", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, "/staff/orders?status=in_progress");
  const shown = await page.locator("table.grid tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-order")));
  expect(shown.length).toBeGreaterThan(0);
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Выгрузить в Excel" }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^orders-.*\.xlsx$/);
  const path = test.info().outputPath("orders.xlsx");
  await file.saveAs(path);
  const script = `
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
sheet = z.read("xl/worksheets/sheet1.xml").decode()
print(",".join(re.findall(r'<c r="A(?:[2-9]|\\d\\d+)"[^>]*><v>(\\d+)</v>', sheet)))`;
  const numbers = execFileSync("python3", ["-c", script, path]).toString().trim().split(",");
  expect(numbers).toEqual(shown);
  await expect(page.getByText(`Файл готов: ${shown.length} строк`)).toBeVisible();
});

test("taking an order into work shows the phone; history records it", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await openFirst(page, "waiting");
  await expect(page.getByText("виден, когда заказ «В работе»")).toBeVisible();
  await expect(page.getByRole("button", { name: "Показать телефон" })).toHaveCount(0);
  await saveState(page, { status: "В работе" });
  await expect(page.locator("h1 .status")).toHaveText("В работе");
  await page.getByRole("button", { name: "Показать телефон" }).click();
  await expect(page.locator("dd.phone")).toContainText(/\+7900000\d{4}/);
  await page.getByRole("tab", { name: "История" }).click();
  await expect(page.getByText("Статус: «Ожидание» → «В работе»")).toBeVisible();
});

test("cancelling without a comment is refused; with one it succeeds", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await openFirst(page, "waiting");
  await saveState(page, { status: "Отменено", comment: "" });
  await expect(page.getByRole("alert")).toHaveText("Укажите причину отмены в поле «Комментарий»");
  await expect(page.locator("h1 .status")).toHaveText("Ожидание");
  await saveState(page, { status: "Отменено", comment: "Клиент отказался по телефону" });
  await expect(page.locator("h1 .status")).toHaveText("Отменено");
  // Final: the other statuses are greyed out.
  await expect(page.locator("select[name=status] option[value=waiting]")).toBeDisabled();
  await page.getByRole("tab", { name: "История" }).click();
  await expect(page.getByText("Комментарий: Клиент отказался по телефону")).toBeVisible();
});

test("reassign, comment internally and attach a file; history shows each change", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await openFirst(page, "in_progress");
  // The card reloads after saving; files are chosen once it has (a reload resets the input).
  const reloaded = page.waitForResponse((r) => r.url().includes("/api/order_card"));
  await saveState(page, { assignee: "Виктор Смотрящий", comment: "Подменяет мастера" });
  await reloaded;
  await expect(page.locator("select[name=assignee_id] option:checked")).toHaveText("Виктор Смотрящий");
  await expect(page.getByLabel("Комментарий", { exact: true })).toHaveValue("");

  await page.getByLabel("Файлы").setInputFiles({ name: "акт-работ.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4 demo") });
  await page.getByRole("button", { name: "Прикрепить" }).click();
  await expect(page.getByRole("link", { name: "акт-работ.pdf" })).toBeVisible();

  await hydrated(page);
  await page.getByRole("tab", { name: "Комментарии" }).click();
  await page.getByLabel("Новый комментарий").fill("Ключи у консьержа");
  await page.getByRole("button", { name: "Добавить" }).click();
  await expect(page.locator(".comments .body")).toHaveText(["Ключи у консьержа"]);

  await page.getByRole("tab", { name: "История" }).click();
  await expect(page.getByText("Ответственный: Виктор Смотрящий")).toBeVisible();
  await expect(page.getByText("Комментарий: Подменяет мастера")).toBeVisible();
  await expect(page.getByText("Прикреплён файл")).toBeVisible();
});

test("a read-only role sees the card without controls", async ({ page }) => {
  await signInStaff(page, "viewer@demo.ru");
  await openFirst(page, "waiting");
  await expect(page.getByText("Только просмотр")).toBeVisible();
  await expect(page.getByRole("button", { name: "Сохранить" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Прикрепить" })).toHaveCount(0);
});
