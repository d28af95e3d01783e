-- Headless Neovim check of the learning signal (run by tests/editors/test_editors.py): with Neovim's own
-- completion (`vim.lsp.completion`, 0.11+), accepting an item runs the item's command, which Neovim sends to the
-- server as workspace/executeCommand.  Types a prefix, asks for completions in insert mode, accepts the first
-- item (<C-n><C-y>), and writes the commands Neovim sent as JSON to $CODECOMP_CHECK_OUT.
local cmd = vim.json.decode(os.getenv("CODECOMP_SERVER_CMD"))
local dir = os.getenv("CODECOMP_CHECK_DIR")
local out_path = os.getenv("CODECOMP_CHECK_OUT")
local report = { ok = true, commands = {} }

local function finish(ok, err)
  report.ok = ok
  report.error = err
  for _, c in ipairs(vim.lsp.get_clients()) do c:stop() end
  vim.wait(5000, function() return #vim.lsp.get_clients() == 0 end, 50)
  local fh = io.open(out_path, "w")
  fh:write(vim.json.encode(report))
  fh:close()
  vim.cmd(ok and "qall!" or "cquit 1")
end

local buf = vim.api.nvim_create_buf(true, false)
vim.api.nvim_buf_set_name(buf, dir .. "/check.js")
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "const shoppingCart = [];", "shop" })
vim.bo[buf].filetype = "javascript"
vim.api.nvim_set_current_buf(buf)
local id = vim.lsp.start({ name = "codecomp", cmd = cmd, root_dir = dir,
                           init_options = { persistLearning = true } }, { bufnr = buf })
local client = id and vim.lsp.get_client_by_id(id)
if not client or not vim.wait(30000, function() return client.initialized end, 50) then
  return finish(false, "the server did not initialize")
end
vim.lsp.completion.enable(true, client.id, buf, { autotrigger = false })
-- what Neovim sends to the server when an item is accepted
local request = client.request
client.request = function(self, method, params, ...)
  if method == "workspace/executeCommand" then table.insert(report.commands, params) end
  return request(self, method, params, ...)
end
vim.o.completeopt = "menuone,noselect"
vim.api.nvim_win_set_cursor(0, { 2, 4 })
vim.api.nvim_feedkeys("A", "n", false)  -- insert mode at the end of "shop"
vim.defer_fn(function()
  vim.lsp.completion.get()
  local tries = 0
  local function accept_when_shown()
    tries = tries + 1
    if vim.fn.pumvisible() == 1 then
      report.first = vim.fn.complete_info({ "items" }).items[1].word
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<C-n><C-y>", true, false, true), "n", false)
      vim.defer_fn(function()
        vim.wait(5000, function() return #report.commands > 0 end, 50)
        report.line = vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1]
        finish(true)
      end, 200)
    elseif tries < 400 then
      vim.defer_fn(accept_when_shown, 50)
    else
      finish(false, "no completion menu appeared")
    end
  end
  accept_when_shown()
end, 200)
