-- Headless Neovim check of the codecomp language server (run by tests/editors/test_editors.py).
-- Starts the server with vim.lsp.start in a C++ and a JavaScript buffer, types into each buffer (so Neovim
-- sends its own incremental didChange notifications), asks for completions and for an inline completion,
-- and writes what it saw as JSON to $CODECOMP_CHECK_OUT.  Exits non-zero on any failure.
local cmd = vim.json.decode(os.getenv("CODECOMP_SERVER_CMD"))
local dir = os.getenv("CODECOMP_CHECK_DIR")
local out_path = os.getenv("CODECOMP_CHECK_OUT")
local report = { ok = true, cases = {} }

local function fail(msg)
  report.ok = false
  report.error = msg
  local fh = io.open(out_path, "w")
  fh:write(vim.json.encode(report))
  fh:close()
  vim.cmd("cquit 1")
end

local function type_text(buf, text)
  -- one character at a time at the end of the buffer, like a user typing
  for _, ch in ipairs(vim.fn.split(text, "\\zs")) do
    local last = vim.api.nvim_buf_line_count(buf) - 1
    local line = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1]
    vim.api.nvim_buf_set_text(buf, last, #line, last, #line, { ch })
  end
end

local function run_case(name, filetype, lines, typed)
  local path = dir .. "/" .. name
  local buf = vim.api.nvim_create_buf(true, false)
  vim.api.nvim_buf_set_name(buf, path)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = filetype
  vim.api.nvim_set_current_buf(buf)
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  local id = vim.lsp.start({ name = "codecomp", cmd = cmd, root_dir = dir, capabilities = caps,
                             init_options = { maxItems = 30 } }, { bufnr = buf })
  if not id then return fail("vim.lsp.start failed for " .. name) end
  local client = vim.lsp.get_client_by_id(id)
  if not vim.wait(30000, function() return client.initialized end, 50) then
    return fail("the server did not initialize for " .. name)
  end
  type_text(buf, typed)
  local last = vim.api.nvim_buf_line_count(buf) - 1
  local line = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1]
  -- the insert position after the typed text (ASCII here, so byte, UTF-16 and UTF-32 columns agree)
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = last, character = #line } }
  local resp = client:request_sync("textDocument/completion", params, 20000, buf)
  if not resp or resp.err then return fail("completion failed in " .. name .. ": " .. vim.inspect(resp)) end
  local items = resp.result.items or resp.result
  local labels, edit = {}, nil
  for i, item in ipairs(items) do
    labels[i] = item.label
    if item.textEdit and not edit then edit = item.textEdit.range end
  end
  local case = { name = name, labels = labels, edit = edit, cursor = params.position,
                 encoding = client.offset_encoding, line = line,
                 inline_provider = client.server_capabilities.inlineCompletionProvider ~= nil }
  local iparams = vim.deepcopy(params)
  iparams.context = { triggerKind = 1 }
  local iresp = client:request_sync("textDocument/inlineCompletion", iparams, 20000, buf)
  if not iresp or iresp.err then return fail("inline completion failed in " .. name .. ": " .. vim.inspect(iresp)) end
  local inline = {}
  for i, item in ipairs(iresp.result.items or iresp.result) do inline[i] = item.insertText end
  case.inline = inline
  table.insert(report.cases, case)
end

local ok, err = pcall(function()
  run_case("check.cpp", "cpp", { "#include <string>", "int total_count = 0;", "int add(int value) {",
                                "  total_count += value;", "  return " }, "tot")
  run_case("check.js", "javascript", { "const shoppingCart = [];", "function addItem(item) {",
                                       "  shoppingCart.push(item);", "}", "" }, "shop")
end)
if not ok then return fail(tostring(err)) end
for _, c in ipairs(vim.lsp.get_clients()) do c:stop() end
vim.wait(2000, function() return #vim.lsp.get_clients() == 0 end, 50)
local fh = io.open(out_path, "w")
fh:write(vim.json.encode(report))
fh:close()
vim.cmd("qall!")
