;;; eglot_learning.el --- batch check of the learning signal with Emacs' eglot  -*- lexical-binding: t -*-
;; Run by tests/editors/test_editors.py (same environment as eglot_check.el).  Completes a prefix through
;; `completion-at-point' (eglot's real completion path: the unique item is inserted and eglot's exit function
;; runs), types "(" after it, and shuts the server down; the server, started with persistLearning, writes what it
;; learned into the folder, where the test reads it.
(require 'package)
(dolist (dir '("/usr/share/emacs/site-lisp/elpa" "/usr/share/emacs/site-lisp/elpa-src"))
  (when (file-directory-p dir) (add-to-list 'package-directory-list dir)))
(package-initialize)
(require 'json)
(require 'eglot)

(defun codecomp-check--finish (ok &optional error line)
  (with-temp-file (getenv "CODECOMP_CHECK_OUT")
    (insert (json-encode `((ok . ,(if ok t :json-false)) (error . ,error) (line . ,line)))))
  (kill-emacs (if ok 0 1)))

(condition-case err
    (let* ((cmd (append (json-parse-string (getenv "CODECOMP_SERVER_CMD") :array-type 'list) nil))
           (path (expand-file-name "check.js" (file-name-as-directory (getenv "CODECOMP_CHECK_DIR"))))
           line)
      (setq eglot-server-programs `((js-mode . (,@cmd :initializationOptions (:persistLearning t)))))
      (setq eglot-sync-connect 30)
      (setq eglot-events-buffer-size 0)
      (with-current-buffer (find-file-noselect path)
        (erase-buffer)
        (insert "const shoppingCart = [];\nfunction addItem(item) {\n  shoppingCart.push(item);\n}\n")
        (js-mode)
        (apply #'eglot (eglot--guess-contact))
        (unless (with-timeout (30 nil)
                  (while (not (eglot-current-server)) (accept-process-output nil 0.05))
                  t)
          (error "eglot did not connect"))
        (goto-char (point-max))
        (dolist (ch (string-to-list "shop")) (insert (char-to-string ch)))
        (eglot--signal-textDocument/didChange)
        (completion-at-point)
        (insert "(")
        (eglot--signal-textDocument/didChange)
        (setq line (buffer-substring-no-properties (line-beginning-position) (point)))
        (accept-process-output nil 0.5)
        (set-buffer-modified-p nil))
      (eglot-shutdown-all)
      (codecomp-check--finish t nil line))
  (error (codecomp-check--finish nil (error-message-string err))))
;;; eglot_learning.el ends here
