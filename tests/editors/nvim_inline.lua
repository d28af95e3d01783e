-- Headless Neovim: inline completion (ghost text) of the codecomp language server on given files.
-- Reads cases from $CODECOMP_CASES (JSON list of {path, filetype, lines, line, typed}): each buffer holds
-- `lines` (the file with the rest of line `line` removed), the user types `typed` at the end of that line
-- (Neovim sends its own didChange notifications), and the server is asked for an inline completion there.
-- Writes {ok, cases: [{path, line, typed, text, items: [{insertText, range}]}]} to $CODECOMP_CHECK_OUT.
-- The server starts once, in $CODECOMP_CHECK_DIR (its workspace folder: the project of the files).
local cmd = vim.json.decode(os.getenv("CODECOMP_SERVER_CMD"))
local dir = os.getenv("CODECOMP_CHECK_DIR")
local out_path = os.getenv("CODECOMP_CHECK_OUT")
local cases = vim.json.decode(io.open(os.getenv("CODECOMP_CASES")):read("*a"))
local settle_ms = tonumber(os.getenv("CODECOMP_SETTLE_MS") or "3000")
local report = { ok = true, cases = {} }

local function write_report()
  local fh = io.open(out_path, "w")
  fh:write(vim.json.encode(report))
  fh:close()
end

local function fail(msg)
  report.ok = false
  report.error = msg
  write_report()
  vim.cmd("cquit 1")
end

local function type_at_end_of(buf, row, text)
  for _, ch in ipairs(vim.fn.split(text, "\\zs")) do
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1]
    vim.api.nvim_buf_set_text(buf, row, #line, row, #line, { ch })
  end
end

local client_id = nil
local ok, err = pcall(function()
  for i, case in ipairs(cases) do
    local buf = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_buf_set_name(buf, case.path)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, case.lines)
    vim.bo[buf].filetype = case.filetype
    vim.api.nvim_set_current_buf(buf)
    if client_id == nil then
      local caps = vim.lsp.protocol.make_client_capabilities()
      caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
      client_id = vim.lsp.start({ name = "codecomp", cmd = cmd, root_dir = dir, capabilities = caps,
                                  init_options = { maxItems = 30, requestTimeoutMs = 5000 } }, { bufnr = buf })
      if not client_id then return fail("vim.lsp.start failed") end
      local client = vim.lsp.get_client_by_id(client_id)
      if not vim.wait(30000, function() return client.initialized end, 50) then
        return fail("the server did not initialize")
      end
      vim.wait(settle_ms)   -- the workspace index is built in the background meanwhile
    else
      vim.lsp.buf_attach_client(buf, client_id)
    end
    local client = vim.lsp.get_client_by_id(client_id)
    type_at_end_of(buf, case.line, case.typed)
    vim.wait(200)
    local text = vim.api.nvim_buf_get_lines(buf, case.line, case.line + 1, false)[1]
    -- ASCII in these cases, so byte, UTF-16 and UTF-32 columns agree
    local params = { textDocument = { uri = vim.uri_from_bufnr(buf) },
                     position = { line = case.line, character = #text }, context = { triggerKind = 1 } }
    local resp = client:request_sync("textDocument/inlineCompletion", params, 20000, buf)
    if not resp or resp.err then return fail("inline completion failed for " .. case.path .. ": " .. vim.inspect(resp)) end
    local items = {}
    for j, item in ipairs(resp.result.items or resp.result) do
      items[j] = { insertText = item.insertText, range = item.range }
    end
    table.insert(report.cases, { path = case.path, line = case.line, typed = case.typed, text = text, items = items })
  end
end)
if not ok then return fail(tostring(err)) end
for _, c in ipairs(vim.lsp.get_clients()) do c:stop() end
vim.wait(2000, function() return #vim.lsp.get_clients() == 0 end, 50)
write_report()
vim.cmd("qall!")
