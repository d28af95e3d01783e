;;; eglot_check.el --- batch check of the codecomp language server with Emacs' eglot  -*- lexical-binding: t -*-
;; Run by tests/editors/test_editors.py:
;;   CODECOMP_SERVER_CMD='["python","-m","lsp_server"]' CODECOMP_CHECK_DIR=DIR CODECOMP_CHECK_OUT=FILE \
;;     emacs --batch -Q -l tests/editors/eglot_check.el
;; Opens a C++ and a JavaScript buffer, connects eglot, types into each buffer (eglot sends its own
;; incremental didChange), asks for completions through `completion-at-point' (eglot's real completion
;; path) and writes what it saw as JSON.  Exits with status 1 on failure.
(require 'package)
;; -Q skips site-lisp; distribution packages (e.g. Debian's elpa-eglot) live in a system ELPA directory.
(dolist (dir '("/usr/share/emacs/site-lisp/elpa" "/usr/share/emacs/site-lisp/elpa-src"))
  (when (file-directory-p dir) (add-to-list 'package-directory-list dir)))
(package-initialize)
(require 'json)
(require 'eglot)

(defvar codecomp-check-report nil)

(defun codecomp-check--finish (ok &optional error)
  (with-temp-file (getenv "CODECOMP_CHECK_OUT")
    (insert (json-encode `((ok . ,(if ok t :json-false))
                           (error . ,error)
                           (cases . ,(vconcat (nreverse codecomp-check-report)))))))
  (kill-emacs (if ok 0 1)))

(defun codecomp-check--case (name mode text typed)
  (let* ((dir (file-name-as-directory (getenv "CODECOMP_CHECK_DIR")))
         (path (expand-file-name name dir)))
    (with-current-buffer (find-file-noselect path)
      (erase-buffer)
      (insert text)
      (funcall mode)
      ;; the second buffer joins the server eglot already runs for this project
      (unless (eglot-current-server) (apply #'eglot (eglot--guess-contact)))
      (unless (with-timeout (30 nil)
                (while (not (eglot-current-server)) (accept-process-output nil 0.05))
                t)
        (error "eglot did not connect for %s" name))
      (goto-char (point-max))
      ;; type one character at a time, as a user would
      (dolist (ch (string-to-list typed)) (insert (char-to-string ch)))
      (eglot--signal-textDocument/didChange)
      (let* ((capf (eglot-completion-at-point))
             (start (nth 0 capf)) (end (nth 1 capf)) (table (nth 2 capf))
             (prefix (buffer-substring-no-properties start end))
             (cands (all-completions prefix table))
             (server (eglot-current-server))
             (raw (jsonrpc-request server :textDocument/completion (eglot--TextDocumentPositionParams)))
             (items (if (vectorp raw) raw (plist-get raw :items)))
             (first-edit (plist-get (aref items 0) :textEdit)))
        (push `((name . ,name) (prefix . ,prefix)
                (candidates . ,(vconcat (mapcar #'substring-no-properties cands)))
                (labels . ,(vconcat (mapcar (lambda (it) (plist-get it :label)) items)))
                (edit_start . ,(plist-get (plist-get (plist-get first-edit :range) :start) :character))
                (edit_end . ,(plist-get (plist-get (plist-get first-edit :range) :end) :character))
                (column . ,(current-column)))
              codecomp-check-report))
      (set-buffer-modified-p nil))))

(condition-case err
    (let* ((cmd (append (json-parse-string (getenv "CODECOMP_SERVER_CMD") :array-type 'list) nil)))
      (setq eglot-server-programs `(((c++-mode js-mode) . ,cmd)))
      (setq eglot-sync-connect 30)
      (setq eglot-events-buffer-size 0)
      (codecomp-check--case "check.cpp" #'c++-mode
                            "#include <string>\nint total_count = 0;\nint add(int value) {\n  total_count += value;\n  return "
                            "tot")
      (codecomp-check--case "check.js" #'js-mode
                            "const shoppingCart = [];\nfunction addItem(item) {\n  shoppingCart.push(item);\n}\n"
                            "shop")
      (eglot-shutdown-all)
      (codecomp-check--finish t))
  (error (codecomp-check--finish nil (error-message-string err))))
;;; eglot_check.el ends here
