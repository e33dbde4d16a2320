/* The live view: the guest list, htop's keys, colours, terminal resizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ui.h"

#define KEY_ESC 27
#define KEY_CTRL_L 12
#define NAME_WIDTH_MAX 24

static SCREEN *screen;

static const char *const list_keys[] = {
    "F1",    "Help",   "F3",    "Search",  "F4",  "Filter",
    "F6",    "SortBy", "F9",    "Actions", "F10", "Quit",
    "Space", "Tag",    "Enter", "Details", NULL,
};

static void init_colors(struct top_ui *ui)
{
    static const struct {
        enum ui_color c;
        short fg, bg;
    } pairs[] = {
        {UI_C_BAR, COLOR_BLACK, COLOR_GREEN},
        {UI_C_SORT, COLOR_BLACK, COLOR_CYAN},
        {UI_C_SELECT, COLOR_BLACK, COLOR_CYAN},
        {UI_C_GOOD, COLOR_GREEN, -1},
        {UI_C_WARN, COLOR_YELLOW, -1},
        {UI_C_BAD, COLOR_RED, -1},
        {UI_C_TAG, COLOR_YELLOW, -1},
        {UI_C_KEY, COLOR_BLACK, COLOR_CYAN},
        {UI_C_TITLE, COLOR_CYAN, -1},
    };

    if (!has_colors() || start_color() == ERR)
        return;
    use_default_colors();
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        init_pair((short)pairs[i].c, pairs[i].fg, pairs[i].bg);
    ui->colors = 1;
}

int top_ui_open(struct top_ui **out, int delay_ms)
{
    struct top_ui *ui = calloc(1, sizeof(*ui));

    if (!ui)
        return -ENOMEM;
    /* newterm, unlike initscr, reports a bad terminal instead of exiting. */
    screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        free(ui);
        return -ENOTTY;
    }
    set_term(screen);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    init_colors(ui);
    ui->delay_ms = delay_ms;
    ui->sort_col = top_column_find("CPU%");
    *out = ui;
    return 0;
}

void top_ui_close(struct top_ui *ui)
{
    if (!ui)
        return;
    endwin();
    delscreen(screen);
    screen = NULL;
    free(ui->view);
    free(ui->threads);
    free(ui->tprev);
    free(ui);
}

int top_ui_attr(const struct top_ui *ui, enum ui_color c)
{
    if (ui->colors)
        return (int)COLOR_PAIR(c) | (c == UI_C_TAG ? A_BOLD : 0);
    switch (c) {
    case UI_C_BAR:
    case UI_C_SELECT:
    case UI_C_KEY:
        return A_REVERSE;
    case UI_C_SORT:
        return A_REVERSE | A_BOLD;
    case UI_C_TAG:
        return A_BOLD | A_UNDERLINE;
    case UI_C_WARN:
    case UI_C_BAD:
    case UI_C_TITLE:
        return A_BOLD;
    default:
        return A_NORMAL;
    }
}

int top_ui_state_attr(const struct top_ui *ui, enum top_state s)
{
    switch (s) {
    case TOP_STATE_RUNNING:
        return top_ui_attr(ui, UI_C_GOOD);
    case TOP_STATE_PAUSED:
    case TOP_STATE_DEBUG:
    case TOP_STATE_STARTING:
    case TOP_STATE_HALTED:
    case TOP_STATE_SHUTDOWN:
        return top_ui_attr(ui, UI_C_WARN);
    case TOP_STATE_PANICKED:
    case TOP_STATE_CORRUPT:
    case TOP_STATE_STALLED:
    case TOP_STATE_DEAD:
        return top_ui_attr(ui, UI_C_BAD);
    default:
        return A_NORMAL;
    }
}

void top_ui_put(int y, int x, int width, const char *s)
{
    int n = (int)strlen(s);

    if (width <= 0 || y < 0 || y >= LINES || x >= COLS)
        return;
    if (x + width > COLS)
        width = COLS - x;
    mvaddnstr(y, x, s, n < width ? n : width);
    for (int i = n; i < width; i++)
        addch(' ');
}

struct top_guest *top_ui_selected(const struct top_ui *ui)
{
    return ui->sel < ui->nview ? ui->view[ui->sel] : NULL;
}

/* ---- the view: filtered, sorted, selection kept by name ----------------- */

/* Rebuild the view; returns 0 when the selected guest is gone. */
static int build_view(struct top_ui *ui, const struct top_fleet *f)
{
    size_t n = 0;

    if (f->n > ui->view_cap) {
        struct top_guest **nv = realloc(ui->view, f->n * sizeof(*nv));

        if (!nv)
            return 1;
        ui->view = nv;
        ui->view_cap = f->n;
    }
    for (size_t i = 0; i < f->n; i++)
        if (!ui->filter[0] || strstr(f->g[i]->name, ui->filter))
            ui->view[n++] = f->g[i];
    ui->nview = n;
    top_sort(ui->view, n, ui->sort_col, ui->invert, f->tick_epoch);
    for (size_t i = 0; i < n && ui->selected[0]; i++) {
        if (!strcmp(ui->view[i]->name, ui->selected)) {
            ui->sel = i;
            return 1;
        }
    }
    if (ui->sel >= n)
        ui->sel = n ? n - 1 : 0;
    if (n)
        snprintf(ui->selected, sizeof(ui->selected), "%s",
                 ui->view[ui->sel]->name);
    return 0;
}

static void select_row(struct top_ui *ui, long row)
{
    if (ui->nview == 0)
        return;
    if (row < 0)
        row = 0;
    if ((size_t)row >= ui->nview)
        row = (long)ui->nview - 1;
    ui->sel = (size_t)row;
    snprintf(ui->selected, sizeof(ui->selected), "%s", ui->view[ui->sel]->name);
}

/* ---- drawing the list --------------------------------------------------- */

static int list_rows(void)
{
    return LINES > 4 ? LINES - 4 : 0;
}

static int name_width(const struct top_ui *ui)
{
    int w = 4;

    for (size_t i = 0; i < ui->nview; i++)
        if ((int)strlen(ui->view[i]->name) > w)
            w = (int)strlen(ui->view[i]->name);
    return w > NAME_WIDTH_MAX ? NAME_WIDTH_MAX : w;
}

static void draw_header(const struct top_ui *ui, const struct top_fleet *f)
{
    size_t count[TOP_STATE_DEAD + 1] = {0};
    char line[512], when[16] = "";
    time_t t = (time_t)f->tick_epoch;
    struct tm tm;
    int n;

    for (size_t i = 0; i < f->n; i++)
        count[f->g[i]->state]++;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%T", &tm);
    n = snprintf(line, sizeof(line), "unitop %s  %zu guests", when, f->n);
    for (int s = 0; s <= TOP_STATE_DEAD && n > 0 && (size_t)n < sizeof(line);
         s++)
        if (count[s])
            n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%zu %s",
                          n && strchr(line, ':') ? ", " : ": ", count[s],
                          top_state_name((enum top_state)s));
    if (n > 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n,
                 "   refresh %.1fs   CPU%% 100 = one host core (of %ld)",
                 ui->delay_ms / 1000.0, f->host_cores);
    attron(top_ui_attr(ui, UI_C_TITLE));
    top_ui_put(0, 0, COLS, line);
    attroff(top_ui_attr(ui, UI_C_TITLE));
    if (ui->filter[0] && ui->prompt != UI_PROMPT_FILTER)
        snprintf(line, sizeof(line), "[filter: %s] %s", ui->filter, f->msg);
    else
        snprintf(line, sizeof(line), "%s", f->msg);
    top_ui_put(1, 0, COLS, line);
}

/* Where each column starts and how wide it is on this screen. */
static void layout(const struct top_ui *ui, int *x, int *w)
{
    int pos = 1; /* column 0 marks tagged rows */

    for (size_t c = 0; c < top_ncolumns; c++) {
        w[c] = c == 0 ? name_width(ui) : top_columns[c]->width;
        if (w[c] == 0)
            w[c] = COLS - pos > 0 ? COLS - pos : 0;
        x[c] = pos;
        pos += w[c] + 1;
    }
}

static void draw_titles(const struct top_ui *ui, const int *x, const int *w)
{
    attron(top_ui_attr(ui, UI_C_BAR));
    top_ui_put(2, 0, COLS, "");
    for (size_t c = 0; c < top_ncolumns; c++) {
        const struct top_column *col = top_columns[c];
        char title[32];
        int sorted = (int)c == ui->sort_col;

        /* The sort column's title shows the direction, as htop's does. */
        snprintf(title, sizeof(title), col->left ? "%-*s" : "%*s", w[c],
                 col->title);
        if (sorted)
            attron(top_ui_attr(ui, UI_C_SORT));
        top_ui_put(2, x[c], w[c], title);
        if (sorted)
            attroff(top_ui_attr(ui, UI_C_SORT));
        attron(top_ui_attr(ui, UI_C_BAR));
    }
    attroff(top_ui_attr(ui, UI_C_BAR));
}

static void draw_row(const struct top_ui *ui, const struct top_fleet *f,
                     const struct top_guest *g, int y, int selected,
                     const int *x, const int *w)
{
    int base = selected    ? top_ui_attr(ui, UI_C_SELECT)
               : g->tagged ? top_ui_attr(ui, UI_C_TAG)
                           : (int)A_NORMAL;
    char text[1024], fig[1100];

    attrset(base);
    top_ui_put(y, 0, COLS, g->tagged ? "*" : " ");
    for (size_t c = 0; c < top_ncolumns; c++) {
        const struct top_column *col = top_columns[c];
        struct top_value v = {0};
        int state = !selected && !g->tagged && c == 1;

        col->get(g, f->tick_epoch, &v, text, sizeof(text));
        top_value_format(&v, col->fmt, fig, sizeof(fig));
        if (!col->left && (int)strlen(fig) < w[c]) {
            char pad[1100];

            snprintf(pad, sizeof(pad), "%*s", w[c], fig);
            memcpy(fig, pad, sizeof(fig));
        }
        if (state)
            attrset(top_ui_state_attr(ui, g->state));
        top_ui_put(y, x[c], w[c], fig);
        if (state)
            attrset(base);
    }
    attrset(A_NORMAL);
}

void top_ui_draw_keys(const struct top_ui *ui, const char *const *keys)
{
    int x = 0, y = LINES - 1;

    move(y, 0);
    clrtoeol();
    if (ui->prompt) {
        char line[128];

        snprintf(line, sizeof(line), "%s: %s_",
                 ui->prompt == UI_PROMPT_SEARCH ? "Search" : "Filter",
                 ui->text);
        attron(top_ui_attr(ui, UI_C_KEY));
        top_ui_put(y, 0, COLS, line);
        attroff(top_ui_attr(ui, UI_C_KEY));
        return;
    }
    for (int i = 0; keys[i] && keys[i + 1] && x < COLS; i += 2) {
        top_ui_put(y, x, (int)strlen(keys[i]), keys[i]);
        x += (int)strlen(keys[i]);
        attron(top_ui_attr(ui, UI_C_KEY));
        top_ui_put(y, x, (int)strlen(keys[i + 1]) + 1, keys[i + 1]);
        attroff(top_ui_attr(ui, UI_C_KEY));
        x += (int)strlen(keys[i + 1]) + 1;
    }
}

static void draw_list(struct top_ui *ui, const struct top_fleet *f)
{
    int x[16], w[16], rows = list_rows();

    layout(ui, x, w);
    draw_header(ui, f);
    draw_titles(ui, x, w);
    if (ui->sel < ui->top)
        ui->top = ui->sel;
    if (rows > 0 && ui->sel >= ui->top + (size_t)rows)
        ui->top = ui->sel - (size_t)rows + 1;
    if (ui->top + (size_t)rows > ui->nview)
        ui->top = ui->nview > (size_t)rows ? ui->nview - (size_t)rows : 0;
    for (int r = 0; r < rows; r++) {
        size_t i = ui->top + (size_t)r;

        if (i < ui->nview)
            draw_row(ui, f, ui->view[i], 3 + r, i == ui->sel, x, w);
        else
            top_ui_put(3 + r, 0, COLS, "");
    }
    top_ui_draw_keys(ui, list_keys);
}

void top_ui_draw(struct top_ui *ui, struct top_fleet *f)
{
    /* The guest whose details were shown went: back to the list. */
    if (!build_view(ui, f) && ui->mode == UI_DETAIL)
        ui->mode = UI_LIST;
    if (ui->mode == UI_DETAIL && !top_ui_selected(ui))
        ui->mode = UI_LIST;
    erase();
    switch (ui->mode) {
    case UI_DETAIL:
        top_ui_draw_detail(ui, f);
        break;
    case UI_HELP:
        top_ui_draw_help(ui);
        break;
    default:
        if (ui->back == UI_DETAIL && ui->mode == UI_ACTION_MENU)
            top_ui_draw_detail(ui, f);
        else
            draw_list(ui, f);
        if (ui->mode == UI_SORT_MENU || ui->mode == UI_ACTION_MENU)
            top_ui_draw_menu(ui);
        break;
    }
    refresh();
}

/* ---- keys --------------------------------------------------------------- */

/* The next guest from row (from) on whose name holds the search text. */
static void search(struct top_ui *ui, size_t from)
{
    for (size_t k = 0; k < ui->nview && ui->text[0]; k++) {
        size_t i = (from + k) % ui->nview;

        if (strstr(ui->view[i]->name, ui->text)) {
            select_row(ui, (long)i);
            return;
        }
    }
}

static void prompt_key(struct top_ui *ui, const struct top_fleet *f, int ch)
{
    size_t len = strlen(ui->text);

    if (ch == KEY_ESC) {
        if (ui->prompt == UI_PROMPT_FILTER)
            ui->filter[0] = '\0';
        ui->prompt = UI_PROMPT_NONE;
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        ui->prompt = UI_PROMPT_NONE;
    } else if (ch == KEY_F(3) && ui->prompt == UI_PROMPT_SEARCH) {
        search(ui, ui->sel + 1);
        return;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (len)
            ui->text[len - 1] = '\0';
    } else if (ch >= 0x20 && ch <= 0x7e && len + 1 < sizeof(ui->text)) {
        ui->text[len] = (char)ch;
        ui->text[len + 1] = '\0';
    } else {
        return;
    }
    if (ui->prompt == UI_PROMPT_FILTER) {
        snprintf(ui->filter, sizeof(ui->filter), "%s", ui->text);
        build_view(ui, f);
    } else if (ui->prompt == UI_PROMPT_SEARCH) {
        search(ui, ui->sel);
    }
}

/* Sort by column (col); choosing the sort column again inverts it. */
static void sort_by(struct top_ui *ui, int col)
{
    if (col < 0)
        return;
    if (col == ui->sort_col)
        ui->invert = !ui->invert;
    else
        ui->invert = 0;
    ui->sort_col = col;
}

static void open_menu(struct top_ui *ui, enum ui_mode mode)
{
    ui->mode = mode;
    ui->back = UI_LIST;
    ui->menu_sel = mode == UI_SORT_MENU ? ui->sort_col : 0;
}

/* Keys of the list; returns 1 to quit. */
static int list_key(struct top_ui *ui, struct top_fleet *f, int ch)
{
    long rows = list_rows() > 1 ? list_rows() - 1 : 1;
    struct top_guest *g = top_ui_selected(ui);

    switch (ch) {
    case 'q':
    case KEY_F(10):
        return 1;
    case 'h':
    case '?':
    case KEY_F(1):
        ui->mode = UI_HELP;
        break;
    case KEY_F(6):
        open_menu(ui, UI_SORT_MENU);
        break;
    case '<':
    case ',':
        ui->sort_col =
            (ui->sort_col + (int)top_ncolumns - 1) % (int)top_ncolumns;
        break;
    case '>':
    case '.':
        ui->sort_col = (ui->sort_col + 1) % (int)top_ncolumns;
        break;
    case 'I':
        ui->invert = !ui->invert;
        break;
    case '/':
    case KEY_F(3):
        ui->prompt = UI_PROMPT_SEARCH;
        ui->text[0] = '\0';
        break;
    case '\\':
    case KEY_F(4):
        ui->prompt = UI_PROMPT_FILTER;
        snprintf(ui->text, sizeof(ui->text), "%s", ui->filter);
        break;
    case ' ':
        if (g) {
            g->tagged = !g->tagged;
            select_row(ui, (long)ui->sel + 1);
        }
        break;
    case 'U':
        for (size_t i = 0; i < f->n; i++)
            f->g[i]->tagged = 0;
        break;
    case 'k':
    case KEY_F(9):
        if (g)
            open_menu(ui, UI_ACTION_MENU);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (g) {
            ui->mode = UI_DETAIL;
            ui->scroll = 0;
        }
        break;
    case KEY_UP:
        select_row(ui, (long)ui->sel - 1);
        break;
    case KEY_DOWN:
        select_row(ui, (long)ui->sel + 1);
        break;
    case KEY_PPAGE:
        select_row(ui, (long)ui->sel - rows);
        break;
    case KEY_NPAGE:
        select_row(ui, (long)ui->sel + rows);
        break;
    case KEY_HOME:
        select_row(ui, 0);
        break;
    case KEY_END:
        select_row(ui, (long)ui->nview - 1);
        break;
    case KEY_CTRL_L:
        clearok(curscr, TRUE);
        break;
    default:
        for (size_t c = 0; c < top_ncolumns; c++)
            if (top_columns[c]->sort_key && top_columns[c]->sort_key == ch)
                sort_by(ui, (int)c);
        break;
    }
    return 0;
}

/* Keys of the details; returns 1 to quit. */
static int detail_key(struct top_ui *ui, int ch)
{
    switch (ch) {
    case KEY_F(10):
        return 1;
    case KEY_ESC:
    case 'q':
    case '\n':
    case '\r':
    case KEY_ENTER:
    case KEY_LEFT:
    case KEY_BACKSPACE:
    case 127:
        ui->mode = UI_LIST;
        break;
    case 'k':
    case KEY_F(9):
        ui->mode = UI_ACTION_MENU;
        ui->back = UI_DETAIL;
        ui->menu_sel = 0;
        break;
    case KEY_UP:
        ui->scroll = ui->scroll > 0 ? ui->scroll - 1 : 0;
        break;
    case KEY_DOWN:
        ui->scroll++;
        break;
    case KEY_PPAGE:
        ui->scroll = ui->scroll > LINES / 2 ? ui->scroll - LINES / 2 : 0;
        break;
    case KEY_NPAGE:
        ui->scroll += LINES / 2;
        break;
    case KEY_HOME:
        ui->scroll = 0;
        break;
    case KEY_CTRL_L:
        clearok(curscr, TRUE);
        break;
    default:
        break;
    }
    return 0;
}

int top_ui_keys(struct top_ui *ui, struct top_fleet *f, struct top_actions *a,
                int *dirty)
{
    int ch, fresh = 0;

    while ((ch = getch()) != ERR) {
        /* The fleet may have changed since the last draw: guests removed
         * by a refresh are freed, so the view is rebuilt first. */
        if (!fresh++)
            build_view(ui, f);
        *dirty = 1;
        if (ch == KEY_RESIZE)
            continue;
        if (ui->prompt) {
            prompt_key(ui, f, ch);
            continue;
        }
        switch (ui->mode) {
        case UI_HELP:
            ui->mode = UI_LIST;
            break;
        case UI_SORT_MENU:
        case UI_ACTION_MENU:
            top_ui_menu_key(ui, f, a, ch);
            break;
        case UI_DETAIL:
            if (detail_key(ui, ch))
                return 1;
            break;
        default:
            if (list_key(ui, f, ch))
                return 1;
            break;
        }
    }
    return 0;
}
