# Reference values for backwalk_study.stats._splines (issue 10, item 5):
# R's natural cubic spline basis splines::ns and its predict method.
#
# Run from tests/reference/:   Rscript splines_ns.R
# Tested with R 4.2.2 (splines ships with R).
#
# x vectors (splines_ns_x.csv, column `x_name`):
#   days          lme4::sleepstudy$Days (REAL; 0..9, each 18 times)
#   chick_time    datasets::ChickWeight$Time (REAL; 0..21, ties, drop-out)
#   loblolly_age  datasets::Loblolly$age (REAL; 3..25, unequal spacing)
#   uniform       SYNTHETIC: round(runif(40, -2, 7), 3) with set.seed(20261126)
#   single        SYNTHETIC: the single value 4 (R's boundary knots 3.5, 4.5)
# Cases (splines_ns_cases.csv), one R call each, in column r_call:
#   b <- ns(x, df = df, intercept = intercept)                # knots from quantiles
#   b <- ns(x, knots = knots, Boundary.knots = bk, intercept = intercept)
#   predict(b, newx)                                          # same knots, new x,
#                                                             # some outside bk
# with the knots R used (attr(b, "knots"), attr(b, "Boundary.knots")) in the
# table. splines_ns_basis.csv holds the basis values in long form (case, row
# i, x, column j, value), at the fitted x for a plain call and at newx for a
# predict case; of tied x values only the first row is kept (the rows of ties
# are identical).

suppressPackageStartupMessages(library(splines))
options(digits = 17)

set.seed(20261126)
xs <- list(
  days = lme4::sleepstudy$Days,
  chick_time = datasets::ChickWeight$Time,
  loblolly_age = datasets::Loblolly$age,
  uniform = round(runif(40, -2, 7), 3),
  single = 4
)
write.csv(do.call(rbind, lapply(names(xs), function(n) data.frame(x_name = n, x = xs[[n]]))),
          "splines_ns_x.csv", row.names = FALSE)

num <- function(v) if (length(v) == 0) "" else paste(sprintf("%.17g", v), collapse = ";")
rvec <- function(v) if (length(v) == 0) "numeric(0)" else sprintf("c(%s)", paste(sprintf("%.17g", v), collapse = ", "))

cases <- list()
values <- list()
add <- function(id, x_name, df = NULL, knots = NULL, bk = NULL, intercept = FALSE, newx = NULL) {
  x <- xs[[x_name]]
  args <- list(x = x, intercept = intercept)
  call <- sprintf("ns(%s, intercept = %s", x_name, intercept)
  if (!is.null(df)) { args$df <- df; call <- sprintf("%s, df = %d", call, df) }
  if (!is.null(knots)) { args$knots <- knots; call <- sprintf("%s, knots = %s", call, rvec(knots)) }
  if (!is.null(bk)) { args$Boundary.knots <- bk; call <- sprintf("%s, Boundary.knots = %s", call, rvec(bk)) }
  call <- paste0(call, ")")
  b <- do.call(ns, args)
  at <- x
  if (!is.null(newx)) {
    b <- predict(b, newx)
    at <- newx
    call <- sprintf("predict(%s, %s)", call, rvec(newx))
  }
  cases[[id]] <<- data.frame(
    case = id, x_name = x_name, df = if (is.null(df)) NA else df,
    knots_given = if (is.null(knots)) "" else num(knots),
    boundary_given = if (is.null(bk)) "" else num(bk),
    intercept = intercept, newx = if (is.null(newx)) "" else num(newx),
    knots = num(attr(b, "knots")), boundary_knots = num(attr(b, "Boundary.knots")),
    n_col = ncol(b), r_call = call)
  keep <- which(!duplicated(at))  # rows of tied x are identical: keep the table small
  b <- unclass(b)[keep, , drop = FALSE]
  values[[id]] <<- data.frame(case = id, i = rep(keep, ncol(b)), x = rep(at[keep], ncol(b)),
                              j = rep(seq_len(ncol(b)), each = nrow(b)), value = as.vector(b))
}

for (x_name in c("days", "chick_time", "loblolly_age", "uniform")) {
  for (df in 1:5) {
    add(sprintf("%s_df%d", x_name, df), x_name, df = df)
    # df = 1 with an intercept is too small (R warns and uses 2; we raise)
    if (df > 1) add(sprintf("%s_df%d_intercept", x_name, df), x_name, df = df, intercept = TRUE)
  }
}
add("days_knots", "days", knots = c(2.5, 6))
add("days_knots_intercept", "days", knots = c(2.5, 6), intercept = TRUE)
add("chick_knots_one", "chick_time", knots = 10)
add("chick_knots_boundary", "chick_time", knots = c(4, 9, 15), bk = c(-1, 24))
add("uniform_boundary_inside", "uniform", knots = c(1, 3), bk = c(0, 5))  # x beyond bk: linear
add("uniform_df3_boundary_inside", "uniform", df = 3, bk = c(-1, 6))
add("loblolly_no_knots", "loblolly_age", knots = numeric(0))
add("single_df2", "single", df = 2)
add("days_df3_predict", "days", df = 3, newx = c(-2, 0, 0.5, 4.5, 9, 12))
add("chick_df4_intercept_predict", "chick_time", df = 4, intercept = TRUE,
    newx = c(-3, 0, 1, 7.3, 21, 25.5))
add("uniform_knots_predict", "uniform", knots = c(0.5, 2, 4.25), newx = seq(-4, 9, by = 0.5))

write.csv(do.call(rbind, cases), "splines_ns_cases.csv", row.names = FALSE)
write.csv(do.call(rbind, values), "splines_ns_basis.csv", row.names = FALSE)
