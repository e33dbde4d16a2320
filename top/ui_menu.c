/* The live view's help screen and its two menus: sort by, actions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ui.h"

#define KEY_ESC 27
#define MENU_WIDTH 34

static const char *const action_names[] = {
    "Pause",
    "Resume",
    "Dump a core (unicore)",
    "Start a trace (unitrace)",
    "Stop the trace",
};

#define NACTIONS ((int)(sizeof(action_names) / sizeof(action_names[0])))

static const char *const help_keys[] = {
    "Up Down PgUp PgDn Home End   move",
    "Enter         details: vCPUs, threads, metrics, console",
    "F6 < >        choose the sort column",
    "P M T N S     sort by CPU%, MEM, UPTIME, NAME, STATE",
    "I             invert the sort order",
    "F3 /          search a name (F3 again: next)",
    "F4 \\          filter names (Esc clears)",
    "Space         tag or untag; U untags all",
    "F9 k          actions on the tagged guests, else the selected:",
    "              pause, resume, dump a core, start or stop a trace",
    "F1 h ?        this help",
    "F10 q         quit",
    NULL,
};

void top_ui_draw_help(struct top_ui *ui)
{
    char line[256];
    int y = 0;

    attron(top_ui_attr(ui, UI_C_TITLE));
    top_ui_put(y++, 0, COLS, "unitop: every uniscope guest on this host");
    attroff(top_ui_attr(ui, UI_C_TITLE));
    y++;
    for (int i = 0; help_keys[i] && y < LINES - 1; i++)
        top_ui_put(y++, 2, COLS - 2, help_keys[i]);
    y++;
    for (size_t c = 0; c < top_ncolumns && y < LINES - 1; c++) {
        snprintf(line, sizeof(line), "%-8s %s", top_columns[c]->title,
                 top_columns[c]->help);
        top_ui_put(y++, 2, COLS - 2, line);
    }
    if (y < LINES - 1)
        top_ui_put(++y, 2, COLS - 2,
                   "A '-' is a figure nobody knows. Press any key.");
}

/* A box of (n) items from (y, 0), item (sel) highlighted. */
static void draw_box(const struct top_ui *ui, const char *title,
                     const char *const *items, int n, int sel, int mark)
{
    char line[64];
    int y = 3;

    attron(top_ui_attr(ui, UI_C_BAR));
    snprintf(line, sizeof(line), " %s", title);
    top_ui_put(y++, 0, MENU_WIDTH, line);
    attroff(top_ui_attr(ui, UI_C_BAR));
    for (int i = 0; i < n && y < LINES - 1; i++, y++) {
        int attr = i == sel ? top_ui_attr(ui, UI_C_SELECT) : (int)A_NORMAL;

        snprintf(line, sizeof(line), " %c %s", i == mark ? '*' : ' ', items[i]);
        attron(attr);
        top_ui_put(y, 0, MENU_WIDTH, line);
        attroff(attr);
    }
}

void top_ui_draw_menu(struct top_ui *ui)
{
    static const char *const keys[] = {"Enter", "Done", "Esc", "Cancel", NULL};
    const char *titles[32];
    int n = 0;

    if (ui->mode == UI_SORT_MENU) {
        for (size_t c = 0; c < top_ncolumns && n < 32; c++)
            titles[n++] = top_columns[c]->title;
        draw_box(ui, "Sort by", titles, n, ui->menu_sel, ui->sort_col);
    } else {
        draw_box(ui, "Actions", action_names, NACTIONS, ui->menu_sel, -1);
    }
    top_ui_draw_keys(ui, keys);
}

/* Run one action on (g); f->msg tells how it went. */
static void act_one(struct top_fleet *f, struct top_actions *a,
                    struct top_guest *g, int item)
{
    int err = 0;

    switch (item) {
    case 0:
    case 1:
        err = top_fleet_act(f, g, item == 0 ? TOP_JOB_PAUSE : TOP_JOB_RESUME);
        if (g->kind == TOP_KIND_XEN || g->kind == TOP_KIND_PROC)
            break; /* done at once: f->msg says how it went */
        if (err == -ENOTSUP)
            snprintf(f->msg, sizeof(f->msg),
                     "%s: %s: a guest known by its RAM file alone has no "
                     "monitor",
                     g->name, item == 0 ? "pause" : "resume");
        else if (err)
            snprintf(f->msg, sizeof(f->msg), "%s: %s", g->name, strerror(-err));
        else
            snprintf(f->msg, sizeof(f->msg), "%s: %s...", g->name,
                     item == 0 ? "pausing" : "resuming");
        break;
    case 2:
        top_action_dump(a, f, g);
        break;
    case 3:
        top_action_trace_start(a, f, g);
        break;
    default:
        top_action_trace_stop(a, f, g);
        break;
    }
}

void top_ui_act(struct top_ui *ui, struct top_fleet *f, struct top_actions *a,
                int item)
{
    struct top_guest *sel = top_ui_selected(ui);
    int tagged = 0;

    /* From the details, the guest shown; from the list, the tagged. */
    for (size_t i = 0; ui->back == UI_LIST && i < f->n; i++) {
        if (f->g[i]->tagged) {
            act_one(f, a, f->g[i], item);
            tagged++;
        }
    }
    if (!tagged && sel)
        act_one(f, a, sel, item);
}

int top_ui_menu_key(struct top_ui *ui, struct top_fleet *f,
                    struct top_actions *a, int key)
{
    int n = ui->mode == UI_SORT_MENU ? (int)top_ncolumns : NACTIONS;

    switch (key) {
    case KEY_UP:
        ui->menu_sel = (ui->menu_sel + n - 1) % n;
        return 0;
    case KEY_DOWN:
        ui->menu_sel = (ui->menu_sel + 1) % n;
        return 0;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (ui->mode == UI_SORT_MENU)
            ui->sort_col = ui->menu_sel;
        else
            top_ui_act(ui, f, a, ui->menu_sel);
        break;
    case KEY_ESC:
    case 'q':
    case KEY_F(10):
    case KEY_F(6):
    case KEY_F(9):
        break;
    default:
        return 0;
    }
    ui->mode = ui->back;
    return 1;
}
